import Testing
@testable import Paddington
import PaddingtonCrypto

/// Attacks on a running service over 127.0.0.1. Each case checks (a) the attacker is dropped or
/// refused with the expected reason, counted in the statistics, (b) the service is still running,
/// and (c) a legitimate client still completes a handshake and a round trip afterwards.
@Suite("Hostile input against a running service")
struct AdversarialTests {
    struct Target {
        let server: RunningMesh
        let invitation: Invitation
        let port: Int
    }

    static func options() -> MeshConfiguration {
        var options = fastOptions(handshakeTimeout: .seconds(5))
        options.maxFrameSize = 64 * 1024
        options.maxConnectionsPerAddress = 8
        options.maxPendingHandshakes = 8
        return options
    }

    func start() async throws -> Target {
        let (server, invitation, port) = try await startAckServer(options: Self.options())
        return Target(server: server, invitation: invitation, port: port)
    }

    /// (b) and (c): the service still runs and serves a good client; then stop it.
    func finish(_ target: Target, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await expectServes(port: target.port, invitation: target.invitation, payload: "still there?", sourceLocation: sourceLocation)
        await target.server.stop()
    }

    func expectRefusal(_ target: Target, _ code: PaddingtonError.Code, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await target.server.recorder.wait(for: "refusal \(code)", sourceLocation: sourceLocation) { $0.failureCode == code }
        #expect((target.server.mesh.statistics.handshakeFailures[code.description] ?? 0) >= 1, sourceLocation: sourceLocation)
    }

    // MARK: Before the upgrade

    @Test("slowloris: a request held open half-written is closed at the timeout")
    func slowloris() async throws {
        let target = try await start()
        let raw = try await RawConnection(port: target.port)
        try await raw.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        #expect(await raw.waitForClose(timeout: .seconds(15)))
        try await expectRefusal(target, .timeout)
        try await finish(target)
    }

    @Test("oversized headers are refused")
    func oversizedHeaders() async throws {
        let target = try await start()
        let raw = try await RawConnection(port: target.port)
        try await raw.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n")
        #expect(await raw.waitForClose(timeout: .seconds(5)))
        #expect(!raw.receivedText.contains("101"))
        try await expectRefusal(target, .protocolViolation)
        try await finish(target)
    }

    @Test("a plain HTTP request gets 400, no upgrade")
    func notWebSocket() async throws {
        let target = try await start()
        let raw = try await RawConnection(port: target.port)
        try await raw.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(await raw.waitForClose(timeout: .seconds(5)))
        #expect(raw.receivedText.hasPrefix("HTTP/1.1 400"))
        try await expectRefusal(target, .protocolViolation)
        try await finish(target)
    }

    @Test("many simultaneous upgrade attempts from one address: the excess is closed at once")
    func flood() async throws {
        let target = try await start()
        // All at once, so that none of them times out (and frees its slot) before the last arrives.
        let connections = try await withThrowingTaskGroup(of: RawConnection.self) { group in
            for _ in 0..<20 { group.addTask { try await RawConnection(port: target.port) } }
            var all: [RawConnection] = []
            for try await connection in group { all.append(connection) }
            return all
        }
        try await expectRefusal(target, .tooManyConnections)
        // The excess is refused and closed as it is accepted, which a loaded machine may do late: wait
        // until the server has refused all twelve, then they must be closed at once. The admitted ones
        // wait for their upgrade (5 s limit), so watch all twenty together, well inside that limit.
        let refusedAll = ContinuousClock.now + .seconds(10)
        while (target.server.mesh.statistics.handshakeFailures["tooManyConnections"] ?? 0) < 12, ContinuousClock.now < refusedAll {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect((target.server.mesh.statistics.handshakeFailures["tooManyConnections"] ?? 0) >= 12)
        let closed = await withTaskGroup(of: Bool.self) { group in
            for connection in connections { group.addTask { await connection.waitForClose(timeout: .seconds(2)) } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(closed >= 12)
        for connection in connections { await connection.close() }
        try await Task.sleep(for: .milliseconds(100))
        try await finish(target)
    }

    @Test("missing or non-hex salt headers get 400 before any 101", arguments: [
        "", "openportal-inner-salt: \(String(repeating: "zz", count: 32))\r\nopenportal-outer-salt: \(String(repeating: "00", count: 32))\r\n",
        "openportal-inner-salt: 00\r\nopenportal-outer-salt: 00\r\n",
    ])
    func badSalts(headers: String) async throws {
        let target = try await start()
        let raw = try await RawConnection(port: target.port)
        try await raw.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(headers)\r\n")
        #expect(await raw.waitForClose(timeout: .seconds(5)))
        #expect(raw.receivedText.hasPrefix("HTTP/1.1 400"))
        try await expectRefusal(target, .protocolViolation)
        try await finish(target)
    }

    // MARK: In the handshake

    @Test("a Ping, an oversized Ping or a binary frame as frame 1 breaks the protocol", arguments: [(UInt8(0x9), 10), (0x9, 300), (0x2, 300)])
    func wrongFirstFrame(opcode: UInt8, size: Int) async throws {
        let target = try await start()
        let socket = try await RawWebSocket.open(port: target.port, keys: target.invitation.keys)
        try await socket.send(opcode: opcode, Array(repeating: UInt8(ascii: "a"), count: size))
        #expect(await socket.raw.waitForClose(timeout: .seconds(5)))
        try await expectRefusal(target, .protocolViolation)
        try await finish(target)
    }

    @Test("frame 1 with multi-byte UTF-8 across the slice points is malformed, never a crash", arguments: [63, 64, 127, 128])
    func multiByteFrameOne(offset: Int) async throws {
        let target = try await start()
        let socket = try await RawWebSocket.open(port: target.port, keys: target.invitation.keys)
        var frame = Envelope.seal(Array(#""x""#.utf8), keys: target.invitation.keys, salts: socket.salts)
        frame[offset] = 0xC3
        frame[offset + 1] = 0xA9
        try await socket.sendText(frame)
        #expect(await socket.raw.waitForClose(timeout: .seconds(5)))
        try await expectRefusal(target, .malformedFrame)
        try await finish(target)
    }

    @Test("valid keys with the wrong PeerDetails version")
    func wrongVersion() async throws {
        let target = try await start()
        var socket = try await RawWebSocket.open(port: target.port, keys: target.invitation.keys)
        _ = try await socket.handshake(name: "client", version: 1)
        #expect(await socket.raw.waitForClose(timeout: .seconds(5)))
        try await expectRefusal(target, .protocolVersionMismatch)
        try await finish(target)
    }

    // MARK: After the handshake

    /// Frames an authenticated peer could send, and the reason the server must give for dropping it.
    static let badFrames: [(String, PaddingtonError.Code)] = [
        ("non-hex", .malformedFrame), ("odd length", .malformedFrame), ("short", .malformedFrame),
        ("utf8@63", .malformedFrame), ("utf8@64", .malformedFrame), ("utf8@127", .malformedFrame), ("utf8@128", .malformedFrame),
        ("not JSON", .invalidJSON), ("JSON number", .invalidJSON), ("tampered tag", .decryptionFailed),
        ("binary", .protocolViolation),
    ]

    @Test("an authenticated peer that sends a bad frame is dropped with the reason", arguments: badFrames)
    func badSessionFrame(kind: String, expected: PaddingtonError.Code) async throws {
        let target = try await start()
        var socket = try await RawWebSocket.open(port: target.port, keys: target.invitation.keys)
        let session = try #require(try await socket.handshake(name: "client"))
        try await target.server.recorder.wait(for: "attacker connected") { $0.isConnected }
        var frame = Envelope.seal(JSONString.encode("hello"), keys: session, salts: socket.salts)
        var opcode: UInt8 = 0x1
        switch kind {
        case "non-hex": frame[200] = UInt8(ascii: "x")
        case "odd length": frame.append(UInt8(ascii: "0"))
        case "short": frame = Array(frame[0..<129])
        case "not JSON": frame = Envelope.seal(Array("hello".utf8), keys: session, salts: socket.salts)
        case "JSON number": frame = Envelope.seal(Array("42".utf8), keys: session, salts: socket.salts)
        case "tampered tag": frame[frame.count - 1] = frame[frame.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        case "binary": opcode = 0x2
        default:
            let offset = Int(kind.dropFirst(5))!
            frame[offset] = 0xC3
            frame[offset + 1] = 0xA9
        }
        try await socket.send(opcode: opcode, frame)
        let event = try await target.server.recorder.wait(for: "attacker dropped") { $0.isDisconnected }
        if case .peerDisconnected(_, let reason) = event { #expect(reason.code == expected, "\(reason)") }
        #expect(target.server.mesh.statistics.disconnections[expected.description] == 1)
        try await finish(target)
    }

    @Test("a frame over the size limit closes the link")
    func hugeFrame() async throws {
        let target = try await start()
        var socket = try await RawWebSocket.open(port: target.port, keys: target.invitation.keys)
        _ = try #require(try await socket.handshake(name: "client"))
        try await target.server.recorder.wait(for: "attacker connected") { $0.isConnected }
        try await socket.sendText([UInt8](repeating: UInt8(ascii: "a"), count: 200 * 1024))
        try await target.server.recorder.wait(for: "attacker dropped") { $0.isDisconnected }
        #expect(await socket.raw.waitForClose(timeout: .seconds(5)))
        try await finish(target)
    }

    @Test("sending a payload whose frame exceeds the limit fails with payloadTooLarge, and the link stays up")
    func sendTooLarge() async throws {
        let target = try await start()
        // Protocol 1, whose frames are 4·j + 372 bytes (this suite is about the Rust wire format).
        var config = try clientConfiguration(invitation: target.invitation, port: target.port)
        config.protocolPolicy = .off
        let client = RunningMesh(config, options: Self.options())
        try await client.recorder.wait(for: "connected") { $0.isConnected }
        await #expect { try await client.mesh.send(String(repeating: "x", count: 20_000), to: "server") } throws: {
            ($0 as? PaddingtonError)?.code == .payloadTooLarge
        }
        try await client.mesh.send(String(repeating: "x", count: 10_000), to: "server")
        #expect(client.mesh.connectedPeers.count == 1)
        await client.stop()
        try await finish(target)
    }
}
