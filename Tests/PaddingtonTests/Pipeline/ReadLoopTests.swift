import NIOConcurrencyHelpers
import Testing
@testable import Paddington

/// Takes messages that start with `reply:` at the intercept stage and hands them to whoever waits for
/// them, as the pending-request table of the agent layer will.
final class ReplyTap: InboundTap {
    private let state = NIOLockedValueBox<(arrived: [String: Message], waiters: [String: CheckedContinuation<Message, Never>])>(([:], [:]))

    func take(_ message: Message, from peer: PeerInfo) -> Bool {
        guard message.payload.hasPrefix("reply:") else { return false }
        let waiter = state.withLockedValue { state -> CheckedContinuation<Message, Never>? in
            if let waiter = state.waiters.removeValue(forKey: message.payload) { return waiter }
            state.arrived[message.payload] = message
            return nil
        }
        waiter?.resume(returning: message)
        return true
    }

    /// Waits for the reply `payload`, or nil after `timeout`.
    func wait(for payload: String, timeout: Duration) async -> Message? {
        await withTaskGroup(of: Message?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let arrived = self.state.withLockedValue { state -> Message? in
                        if let message = state.arrived.removeValue(forKey: payload) { return message }
                        state.waiters[payload] = continuation
                        return nil
                    }
                    if let arrived { continuation.resume(returning: arrived) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if first == nil {
                // Time is up: give the waiting task its answer so the group can end.
                let waiter = state.withLockedValue { $0.waiters.removeValue(forKey: payload) }
                waiter?.resume(returning: Message(sender: "", recipient: "", zone: "", payload: "timeout"))
            }
            return first
        }
    }
}

@Suite("The read loop only reads")
struct ReadLoopTests {
    /// Installs, on `mesh`, a tap and an ordered handler that answers `request` only once the peer's
    /// later `reply:` frame has arrived; records what happened.
    static func install(on mesh: Mesh, tap: ReplyTap, log: NIOLockedValueBox<[String]>) {
        mesh.addInboundTap(tap)
        mesh.onMessage { message, context in
            if message.payload == "request" {
                let reply = await tap.wait(for: "reply:1", timeout: .seconds(10))
                log.withLockedValue { $0.append(reply.map { "request: got \($0.payload)" } ?? "request: no reply") }
            } else {
                log.withLockedValue { $0.append(message.payload) }
            }
        }
    }

    @Test("in ordered mode, a handler that waits for a later frame from its own peer (taken at the intercept stage) completes")
    func handlerWaitsForItsPeer() async throws {
        let (server, invitation, port) = try await Self.server()
        let serverTap = ReplyTap()
        let serverLog = NIOLockedValueBox<[String]>([])
        Self.install(on: server.mesh, tap: serverTap, log: serverLog)
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await client.mesh.waitUntilConnected("server", timeout: .seconds(15))
        try await client.mesh.send("request", to: "server")
        try await client.mesh.send("reply:1", to: "server")
        try await client.mesh.send("after", to: "server")
        try await Self.wait(for: serverLog, count: 2)
        #expect(serverLog.withLockedValue { $0 } == ["request: got reply:1", "after"])
        await client.stop()
        await server.stop()
    }

    @Test("two peers whose handlers each wait for a later frame from the other do not deadlock")
    func mutualWaitsDoNotDeadlock() async throws {
        let (server, invitation, port) = try await Self.server()
        let serverTap = ReplyTap(), clientTap = ReplyTap()
        let serverLog = NIOLockedValueBox<[String]>([]), clientLog = NIOLockedValueBox<[String]>([])
        Self.install(on: server.mesh, tap: serverTap, log: serverLog)
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port)) { mesh in
            Self.install(on: mesh, tap: clientTap, log: clientLog)
        }
        try await client.mesh.waitUntilConnected("server", timeout: .seconds(15))
        try await server.mesh.waitUntilConnected("client", timeout: .seconds(15))
        // Both at once: each side's handler holds its peer's only delivery slot while it waits.
        async let fromClient: Void = Self.sendRequestThenReply(client.mesh, to: "server")
        async let fromServer: Void = Self.sendRequestThenReply(server.mesh, to: "client")
        _ = try await (fromClient, fromServer)
        try await Self.wait(for: serverLog, count: 2)
        try await Self.wait(for: clientLog, count: 2)
        #expect(serverLog.withLockedValue { $0 } == ["request: got reply:1", "after"])
        #expect(clientLog.withLockedValue { $0 } == ["request: got reply:1", "after"])
        await client.stop()
        await server.stop()
    }

    @Test("a full per-peer queue stops the read loop: the sender waits, nothing is dropped, order is kept")
    func fullQueueBackpressure() async throws {
        var options = fastOptions()
        options.inboundQueueDepth = 4
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let gate = Gate()
        let inbox = Inbox()
        let server = RunningMesh(serverConfig, options: options) { mesh in
            mesh.onMessage { message, _ in
                await gate.wait()
                inbox.append(message)
            }
        }
        let port = try await server.mesh.listeningPort()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await client.mesh.waitUntilConnected("server", timeout: .seconds(15))
        // 250 frames of about 64 KiB: more than twice what the queue, the socket buffers and the send
        // budget hold together (about 110 frames on loopback here).
        let count = 250
        let filler = String(repeating: "x", count: 64_000)
        let sent = NIOLockedValueBox(0)
        let sender = Task {
            for n in 0..<count {
                try await client.mesh.send("m\(n) \(filler)", to: "server")
                sent.withLockedValue { $0 += 1 }
            }
        }
        try await Task.sleep(for: .seconds(2))
        let stalledAt = sent.withLockedValue { $0 }
        #expect(stalledAt < count, "every send completed while the receiver's handler was blocked")
        #expect(inbox.all.isEmpty)
        gate.open()
        try await sender.value
        try await inbox.wait(count: count, timeout: .seconds(60))
        #expect(inbox.all.map { $0.payload.prefix(while: { $0 != " " }) } == (0..<count).map { "m\($0)"[...] })
        #expect(server.mesh.statistics.messagesReceived == count)
        await client.stop()
        await server.stop()
    }

    static func server() async throws -> (RunningMesh, Invitation, Int) {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = RunningMesh(config)
        return (server, invitation, try await server.mesh.listeningPort())
    }

    static func sendRequestThenReply(_ mesh: Mesh, to peer: String) async throws {
        try await mesh.send("request", to: peer)
        try await Task.sleep(for: .milliseconds(50))
        try await mesh.send("reply:1", to: peer)
        try await mesh.send("after", to: peer)
    }

    static func wait(for log: NIOLockedValueBox<[String]>, count: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if log.withLockedValue({ $0.count }) >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out; log: \(log.withLockedValue { $0 })", sourceLocation: sourceLocation)
    }
}

/// Holds tasks until it is opened.
final class Gate: Sendable {
    private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let open = state.withLockedValue { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
