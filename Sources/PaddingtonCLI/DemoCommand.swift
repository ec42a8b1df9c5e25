import ArgumentParser
import EchoCore
import Foundation
import Logging
import Paddington

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the echo countdown between two services on loopback, in one process.",
        discussion: """
            Creates echo-server on 127.0.0.1 (a free port) and invites echo-client; the invitation is written \
            to a fresh temporary folder (mode 0600) and loaded back by the client, which dials over a real \
            socket. The server counts down from --start. The two negotiate protocol 2 (Noise, forward secret, \
            one seal per message) unless --protocol 1 asks for the Rust wire format (double-encrypted, hex).
            """)

    @Option(help: "The number the countdown starts from.")
    var start = 1000
    @Option(help: "Show every n-th number received (plus the first and the last few).")
    var every = 100
    @Option(help: "Give up after this many seconds.")
    var timeout = 120
    @Option(name: .customLong("protocol"),
            help: "Wire protocol of both services: auto (protocol 2 between them), 2 (required) or 1 (the Rust format).")
    var protocolPolicy: ProtocolPolicy = .auto
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard start >= 1 else { throw ValidationError("--start must be at least 1") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
    }

    func run() async throws {
        var log = self.log
        if log.logLevel == .info { log.logLevel = .notice }
        let logger = log.makeLogger("demo")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("paddington-demo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let invitationPath = folder.appendingPathComponent("invitation.toml").path

        // The server: a free port on loopback, one client (its invitation is made once the port is known).
        var serverConfig = try ServiceConfiguration(name: Countdown.serverName, ip: "127.0.0.1", port: 0)
        serverConfig.protocolPolicy = protocolPolicy
        try serverConfig.admitClient(Countdown.clientName, allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = Mesh(configuration: serverConfig, logger: logger)
        let start = self.start
        let every = self.every
        let output = Countdown.Output(line: { say($0) }, shows: { n in
            guard let n else { return true }
            return n % every == 0 || n <= 3 || n == start
        })
        let began = ContinuousClock.now
        Countdown.installServer(on: server, output: output) { server.shutdown() }

        try await withThrowingTaskGroup(of: Void.self) { group in
            // Subscribe before the mesh runs, so that no event is missed.
            group.addTask { [stream = server.events] in
                for await event in stream { await Countdown.serverEvent(event, mesh: server, start: start) }
            }
            group.addTask { try await server.run() }
            let port = try await server.listeningPort()

            // The invitation goes through a real file, as it would between two machines.
            try await server.invitation(for: Countdown.clientName).save(to: invitationPath)
            say("echo-server listening on 127.0.0.1:\(port); invitation for echo-client written to \(invitationPath)")
            var clientConfig = try ServiceConfiguration(name: Countdown.clientName)
            clientConfig.protocolPolicy = protocolPolicy
            try clientConfig.addServer(try Invitation.load(from: invitationPath))
            let client = Mesh(configuration: clientConfig, logger: logger)
            Countdown.installClient(on: client, output: output) { client.shutdown() }
            group.addTask { [stream = client.events] in
                for await event in stream {
                    if case .peerConnected(let peer) = event { say("echo-client connected to \(peer)") }
                }
            }
            group.addTask { try await client.run() }
            let limit = Duration.seconds(timeout)
            group.addTask {
                try await Task.sleep(for: limit)
                server.shutdown()
                client.shutdown()
                throw ValidationError("the countdown did not finish within \(limit)")
            }
            // Both meshes and both event readers finish; then stop the watchdog.
            for _ in 0..<4 { try await group.next() }
            group.cancelAll()
        }
        let elapsed = ContinuousClock.now - began
        let messages = 2 * start
        let wire = server.statistics.handshakesByProtocol[2] != nil
            ? "protocol 2: one ChaCha20-Poly1305 seal per message" : "protocol 1: each double-encrypted and hex-encoded"
        say(String(format: "%d messages in %.2f s (%.0f messages/s, ", messages, elapsed.seconds, Double(messages) / max(elapsed.seconds, 1e-9))
            + wire + ")")
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
