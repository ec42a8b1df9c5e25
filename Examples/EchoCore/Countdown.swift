import Paddington

#if canImport(Glibc)
import Glibc
#endif

/// Writes one line straight to standard output (file descriptor 1), so that a pipe or a terminal
/// sees it at once. It bypasses stdio on purpose: `fflush` would wait on the lock of stdin, which a
/// thread blocked in `readLine` holds.
public func say(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// The echo countdown of the original example, working.
///
/// The server sends `start` to `echo-client` as soon as that peer connects (the Rust example sends it
/// to the control message's empty zone, so its countdown never starts). For every number `n` it
/// receives it answers `n - 1`; once it has sent 0 it prints `Blast off!` and finishes. The client
/// echoes every payload and finishes after it has echoed 0.
public enum Countdown {
    public static let serverName = "echo-server"
    public static let clientName = "echo-client"

    /// Where the countdown's lines go, and which received numbers to show.
    public struct Output: Sendable {
        public var line: @Sendable (String) -> Void
        public var shows: @Sendable (Int?) -> Bool

        /// Every line, as the original example prints them.
        public static let everyMessage = Output(line: { say($0) }, shows: { _ in true })

        public init(line: @escaping @Sendable (String) -> Void, shows: @escaping @Sendable (Int?) -> Bool) {
            self.line = line
            self.shows = shows
        }
    }

    /// Installs the server's handler on `mesh`. Call ``serverEvent(_:mesh:start:)`` for each event.
    public static func installServer(on mesh: Mesh, output: Output = .everyMessage, blastOff: @escaping @Sendable () -> Void) {
        mesh.onMessage(from: clientName) { message, context in
            let number = Int(message.payload)
            if output.shows(number) { output.line("\(serverName) received: \(message)") }
            guard let number else {
                context.logger.warning("not a number", metadata: ["payload": "\(message.payload)"])
                return
            }
            guard number >= 1 else { return }
            try await context.reply(String(number - 1))
            if number - 1 == 0 {
                output.line("Blast off!")
                blastOff()
            }
        }
    }

    /// Starts a countdown when `echo-client` connects.
    public static func serverEvent(_ event: MeshEvent, mesh: Mesh, start: Int) async {
        guard case .peerConnected(let peer) = event, peer.id.name == clientName else { return }
        do {
            try await mesh.send(String(start), to: peer.id.name, zone: peer.id.zone)
        } catch {
            say("could not start the countdown: \(error)")
        }
    }

    /// Installs the client's handler on `mesh`: echo everything, finish after echoing 0.
    public static func installClient(on mesh: Mesh, output: Output = .everyMessage, done: @escaping @Sendable () -> Void) {
        mesh.onMessage { message, context in
            if output.shows(Int(message.payload)) { output.line("\(clientName) received: \(message)") }
            do {
                try await context.reply(message.payload)
            } catch {
                context.logger.info("could not echo", metadata: ["error": "\(error)"])
            }
            if message.payload == "0" { done() }
        }
    }
}
