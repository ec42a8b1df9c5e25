import NIOCore
import Testing
@testable import Paddington
import PaddingtonCrypto

/// An attacker's WebSocket client on a raw socket: it upgrades, writes any frame, parses the server's
/// frames, and can run the handshake itself with only the protocol's crypto.
struct RawWebSocket {
    let raw: RawConnection
    let keys: EnvelopeKeys
    let salts: ConnectionSalts
    private var consumed = 0

    /// Connects and upgrades with valid salt headers for `keys`.
    static func open(port: Int, keys: EnvelopeKeys, salts: ConnectionSalts = .generate()) async throws -> RawWebSocket {
        let raw = try await RawConnection(port: port)
        try await raw.send(RawConnection.upgradeRequest(keys: keys, salts: salts))
        var socket = RawWebSocket(raw: raw, keys: keys, salts: salts)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let bytes = raw.received
            if let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) {
                guard String(decoding: bytes[..<end.lowerBound], as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
                    throw PaddingtonError(.protocolViolation, "no 101: \(raw.receivedText)")
                }
                socket.consumed = end.upperBound
                return socket
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw PaddingtonError(.timeout, "no upgrade response")
    }

    func send(opcode: UInt8, _ payload: [UInt8], fin: Bool = true) async throws {
        try await raw.send(RawConnection.frame(opcode: opcode, payload: payload, fin: fin))
    }

    func sendText(_ payload: [UInt8]) async throws { try await send(opcode: 0x1, payload) }

    /// The next frame from the server, or nil when the connection closes or nothing comes in time.
    mutating func nextFrame(timeout: Duration = .seconds(5)) async -> (opcode: UInt8, payload: [UInt8])? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let bytes = Array(raw.received[consumed...])
            if bytes.count >= 2 {
                var length = Int(bytes[1] & 0x7F)
                var offset = 2
                if length == 126, bytes.count >= 4 {
                    length = Int(bytes[2]) << 8 | Int(bytes[3])
                    offset = 4
                } else if length == 127, bytes.count >= 10 {
                    length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    offset = 10
                }
                if (length < 126 || offset > 2), bytes.count >= offset + length {
                    consumed += offset + length
                    return (bytes[0] & 0x0F, Array(bytes[offset..<(offset + length)]))
                }
            }
            if !raw.channel.isActive && raw.received.count <= consumed { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Runs frames 1 to 4 as client `name` in `zone`, sending `version` in PeerDetails. Returns the
    /// session keys, or nil if the server did not answer as expected.
    ///
    /// `pipelined` messages are sealed with the session keys and written in the same write as frame 3,
    /// before frame 4 is read: they are in the server's socket the moment its handshake ends, whatever
    /// the scheduling of this task.
    mutating func handshake(name: String, zone: String = "default", version: Int = 2, pipelined: [String] = []) async throws -> EnvelopeKeys? {
        let outerSession = SecretKey.generate()
        let hello = WireMessage.Hello(sessionKey: outerSession, engine: "attacker", version: "0")
        try await sendText(Envelope.seal(hello.json(), keys: keys, salts: salts))
        guard let frame2 = await nextFrame(), frame2.opcode == 0x1 else { return nil }
        let reply = try WireMessage.Hello.decode(try Envelope.open(frame2.payload, keys: EnvelopeKeys(inner: keys.inner, outer: outerSession), salts: salts))
        let session = EnvelopeKeys(inner: reply.sessionKey, outer: outerSession)
        let details = WireMessage.PeerDetails(name: name, zone: zone, version: version, standby: .primary)
        var frames = RawConnection.frame(opcode: 0x1, payload: Envelope.seal(details.json(), keys: session, salts: salts))
        for payload in pipelined {
            frames += RawConnection.frame(opcode: 0x1, payload: Envelope.seal(JSONString.encode(payload), keys: session, salts: salts))
        }
        try await raw.send(frames)
        guard version == 2, let frame4 = await nextFrame(), frame4.opcode == 0x1 else { return nil }
        _ = try WireMessage.PeerDetails.decode(try Envelope.open(frame4.payload, keys: session, salts: salts))
        return session
    }
}
