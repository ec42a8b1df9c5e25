import Foundation
import Logging
import NIOConcurrencyHelpers
import Paddington
import PaddingtonTestSupport
import Testing

/// Faults with real processes: a peer killed mid-stream, a peer paused past the idle limit.
@Suite("Faults", .serialized)
struct FaultTests {
    /// Writes a server configuration admitting `client` from 127.0.0.1 and returns the invitation.
    func writeServer(name: String, port: Int, in folder: URL) throws -> Invitation {
        var config = try ServiceConfiguration(name: name, url: "http://127.0.0.1:\(port)", ip: "127.0.0.1", port: port)
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        try config.save(to: folder.appendingPathComponent("server.toml").path)
        return invitation
    }

    static func quietLogger() -> Logger {
        var logger = Logger(label: "fault-test")
        logger.logLevel = .critical
        return logger
    }

    static let fastReconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(400))

    @Test("a server killed mid-stream: failed sends throw, the client reconnects, every send after that arrives")
    func killMidStream() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        let invitation = try writeServer(name: "sink", port: port, in: folder)
        var server = try ChildProcess("paddington", ["run", "--config", "server.toml"], in: folder)
        #expect(await server.waitForOutput(#""event":"listening""#))

        var clientConfig = try ServiceConfiguration(name: "client", port: 0)
        try clientConfig.addServer(invitation)
        let client = Mesh(configuration: clientConfig, options: MeshConfiguration(reconnect: Self.fastReconnect), logger: Self.quietLogger())
        let connections = NIOLockedValueBox(0)
        let events = Task { [stream = client.events] in
            for await event in stream { if case .peerConnected = event { connections.withLockedValue { $0 += 1 } } }
        }
        let running = Task { try await client.run() }
        defer { client.shutdown(); running.cancel(); events.cancel() }

        var sentBefore = 0, failed = 0
        var sentAfter: [String] = []
        var killed = false, restarted = false
        let deadline = ContinuousClock.now + .seconds(60)
        var n = 0
        while sentAfter.count < 200, ContinuousClock.now < deadline {
            n += 1
            let payload = "m\(n)"
            let connectedBefore = connections.withLockedValue { $0 }
            do {
                try await client.send(payload, to: "sink")
                if restarted && connectedBefore >= 2 { sentAfter.append(payload) } else { sentBefore += 1 }
            } catch let error as PaddingtonError {
                #expect([.peerNotConnected, .connectionClosed].contains(error.code), "\(error)")
                failed += 1
                try await Task.sleep(for: .milliseconds(5))
            }
            if !killed, sentBefore >= 200 {
                server.kill(SIGKILL)
                _ = await server.waitForExit()
                killed = true
            }
            if killed, !restarted, failed >= 5 {
                server = try ChildProcess("paddington", ["run", "--config", "server.toml"], in: folder)
                restarted = true
            }
        }
        #expect(killed && restarted)
        #expect(failed >= 5, "sends while the server was down must fail loudly")
        #expect(sentAfter.count == 200)
        // Every send that succeeded on the new link reached the new server, in order.
        for payload in [sentAfter.first, sentAfter.last].compactMap({ $0 }) {
            #expect(await server.waitForOutput(#""payload":"\#(payload)""#))
        }
        let received = server.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: #""payload":""#) else { return nil }
            return String(line[range.upperBound...].dropLast(2))
        }
        let tail = Array(received.suffix(sentAfter.count))
        #expect(tail == sentAfter)
        server.kill(SIGTERM)
        _ = await server.waitForExit()
    }

    @Test("a peer paused past the idle limit (3 s) is declared dead, and the link comes back after it resumes")
    func pausedPeer() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var serverConfig = try ServiceConfiguration(name: "watcher", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = Mesh(
            configuration: serverConfig,
            options: MeshConfiguration(idleTimeout: .seconds(3), keepaliveInterval: .milliseconds(300)),
            logger: Self.quietLogger())
        let log = NIOLockedValueBox<[MeshEvent]>([])
        let events = Task { [stream = server.events] in for await event in stream { log.withLockedValue { $0.append(event) } } }
        let running = Task { try await server.run() }
        defer { server.shutdown(); running.cancel(); events.cancel() }
        let port = try await server.listeningPort()

        var clientConfig = try ServiceConfiguration(name: "client", port: 0)
        var dial = invitation
        dial.url = "ws://127.0.0.1:\(port)/"
        try clientConfig.addServer(dial)
        try clientConfig.save(to: folder.appendingPathComponent("client.toml").path)
        let client = try ChildProcess("paddington", ["run", "--config", "client.toml", "--keepalive-interval", "0.3"], in: folder)
        #expect(await client.waitForOutput(#""event":"connected""#))

        func count(_ predicate: (MeshEvent) -> Bool) -> Int { log.withLockedValue { $0.filter(predicate).count } }
        func waitFor(_ what: String, _ predicate: @escaping (MeshEvent) -> Bool, atLeast: Int) async -> Bool {
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if count(predicate) >= atLeast { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            Issue.record("no \(what): \(log.withLockedValue { $0 })")
            return false
        }
        let connected: (MeshEvent) -> Bool = { if case .peerConnected = $0 { true } else { false } }
        let timedOut: (MeshEvent) -> Bool = { if case .peerDisconnected(_, let reason) = $0 { reason.code == .timeout } else { false } }
        #expect(await waitFor("connection", connected, atLeast: 1))
        // Alive and idle: keepalives hold the link well past the idle limit.
        try await Task.sleep(for: .seconds(4))
        #expect(count(timedOut) == 0)

        client.kill(SIGSTOP)
        #expect(await waitFor("idle disconnection", timedOut, atLeast: 1))
        client.kill(SIGCONT)
        #expect(await waitFor("reconnection", connected, atLeast: 2))
        #expect(await client.waitForOutput(#""event":"disconnected""#))
        client.kill(SIGTERM)
        #expect(await client.waitForExit() == 0)
    }
}
