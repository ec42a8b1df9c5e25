import Testing
@testable import Paddington
import PaddingtonCrypto

/// An attacker's protocol 2 client on a raw socket (paddington-v2 §4–§7). It upgrades with valid salt
/// headers and the `openportal-protocol` values of its choice, runs the Noise handshake with whatever
/// keys it is given, starts the session with CONTROL `PeerDetails`, and then sends any frame: sealed
/// with the right next nonce, or replayed, reordered, reflected, truncated, of the wrong opcode.
///
/// ```swift
/// let client = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
/// try await client.handshake()
/// try await client.startSession(name: "client")
/// try await client.sendData(Array("hello".utf8))
/// ```
final class RawProtocolTwoClient {
    /// The handshake between message 1 and message 2.
    private struct PendingHandshake: ~Copyable {
        var symmetric: NoiseSymmetricState
        let ephemeral: SecretKey
    }

    /// The session once the handshake is done: this client's sending cipher state (driven by hand, so
    /// that any plaintext can be sealed) and an opener for the server's frames.
    private final class Transport {
        var sending: NoiseCipherState
        var opener: ProtocolTwo.FrameOpener

        init(sending: consuming NoiseCipherState, opener: consuming ProtocolTwo.FrameOpener) {
            self.sending = sending
            self.opener = opener
        }
    }

    let raw: RawConnection
    let keys: EnvelopeKeys
    /// The `openportal-protocol` values the request carried.
    let offer: [String]
    /// The server's response head (any status).
    let response: RawHTTPHead
    private var consumed: Int
    private var pending: PendingHandshake?
    private var transport: Transport?
    /// Every frame the server sent so far, as it was on the wire.
    private(set) var received: [RawFrame] = []
    /// The server's transport frames opened so far; the index is the nonce each was sealed with.
    private var sessionFrames: [RawFrame] = []

    private init(raw: RawConnection, keys: EnvelopeKeys, offer: [String], response: RawHTTPHead) {
        self.raw = raw
        self.keys = keys
        self.offer = offer
        self.response = response
        consumed = response.count
    }

    /// Connects, sends an upgrade request with salt headers masked for `keys` and one
    /// `openportal-protocol` header (spelt `headerName`) per value of `offer` (none when empty, two
    /// for a repeated header), and returns once the response head has arrived, whatever its status.
    static func connect(
        port: Int, keys: EnvelopeKeys, offer: [String] = ["2"], headerName: String = ProtocolOffer.headerName
    ) async throws -> RawProtocolTwoClient {
        let raw = try await RawConnection(port: port)
        let headers = offer.map { "\(headerName): \($0)\r\n" }.joined()
        try await raw.send(RawConnection.upgradeRequest(keys: keys, extraHeaders: headers))
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let head = RawHTTPHead.parse(raw.received[...]) {
                return RawProtocolTwoClient(raw: raw, keys: keys, offer: offer, response: head)
            }
            if !raw.channel.isActive, RawHTTPHead.parse(raw.received[...]) == nil {
                throw PaddingtonError(.connectionClosed, "closed before a response: \(raw.receivedText)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw PaddingtonError(.timeout, "no upgrade response")
    }

    /// The `openportal-protocol` values of the response.
    var selection: [String] { response.values(ProtocolOffer.headerName) }

    // MARK: Handshake

    /// The prologue of the headers as sent and received (HTTP strips the whitespace around a value).
    var prologue: [UInt8] {
        func stripped(_ value: String) -> String {
            let isSpace = { (character: Character) in character == " " || character == "\t" }
            return String(value.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
        }
        return ProtocolTwo.prologue(offer: offer.first.map(stripped) ?? "", select: selection.first ?? "")
    }

    /// Sends Noise message 1 (`-> psk, e`) under `psk`, by default the `psk_v2` of the keys the request
    /// was made for. The handshake is written out here from Noise's symmetric state, not with the
    /// library's initiator, so that the session keys stay in the attacker's hands.
    func sendMessage1(psk: SecretKey? = nil) async throws {
        let psk = psk ?? ProtocolTwo.psk(from: keys)
        var symmetric = NoiseSymmetricState(protocolName: ProtocolTwo.noiseProtocolName)
        symmetric.mixHash(prologue)
        psk.withUnsafeBytes { symmetric.mixKeyAndHash($0) }
        let ephemeral = SecretKey.generate()
        let ephemeralPublic = try NoiseSymmetricState.publicKey(of: ephemeral)
        ephemeralPublic.withUnsafeBytes { e in
            symmetric.mixHash(e)
            symmetric.mixKey(e)
        }
        let message1 = ephemeralPublic + (try symmetric.encryptAndHash([]))
        pending = PendingHandshake(symmetric: symmetric, ephemeral: ephemeral)
        try await sendBinary(message1)
    }

    /// Runs the Noise handshake: message 1, then message 2 from the server (`<- e, ee`) and `Split()`.
    ///
    /// - Throws: when no 48-byte binary message 2 arrives in time (the server refused message 1), or
    ///   message 2 does not verify.
    func handshake(psk: SecretKey? = nil) async throws {
        try await sendMessage1(psk: psk)
        guard let message2 = await nextFrame(), message2.opcode == RawFrame.binary, message2.payload.count == ProtocolTwo.message2Count else {
            throw PaddingtonError(.connectionClosed, "no Noise message 2 from the server")
        }
        guard var state = pending.take() else { throw PaddingtonError(.protocolViolation, "no message 1") }
        let remote = Array(message2.payload[0..<32])
        remote.withUnsafeBytes { re in
            state.symmetric.mixHash(re)
            state.symmetric.mixKey(re)
        }
        try state.symmetric.mixKey(dh: state.ephemeral, remote: remote, what: "Noise message 2")
        _ = try state.symmetric.decryptAndHash(Array(message2.payload[32..<48]))
        let keys = state.symmetric.split()
        transport = Transport(sending: NoiseCipherState(key: keys.initiatorToResponder), opener: ProtocolTwo.FrameOpener(key: keys.responderToInitiator))
    }

    /// Sends CONTROL `PeerDetails` (primary) with this name and zone.
    func sendPeerDetails(name: String, zone: String = "default") async throws {
        try await sendControl(ControlMessage.peerDetails(Self.details(name: name, zone: zone)).json())
    }

    /// A client's `PeerDetails`: version 2, primary.
    static func details(name: String, zone: String = "default") -> ProtocolTwoPeerDetails {
        ProtocolTwoPeerDetails(
            name: name, zone: zone, version: WireMessage.peerDetailsVersion, standby: .primary, engine: "attacker", engineVersion: "0")
    }

    /// Sends CONTROL `PeerDetails` as the first transport frame, then reads and returns the server's.
    @discardableResult
    func startSession(name: String, zone: String = "default") async throws -> ProtocolTwoPeerDetails {
        try await sendPeerDetails(name: name, zone: zone)
        guard let reply = try await receive(), reply.type == .control,
            case .peerDetails(let server) = try ControlMessage.decode(reply.body)
        else {
            throw PaddingtonError(.protocolViolation, "no PeerDetails from the server")
        }
        return server
    }

    // MARK: Frames out

    /// Seals a frame with the next nonce of this direction, without sending it. With `last`, bit 7 of
    /// the type byte is set and the sending key is rekeyed after it, as the protocol says.
    func seal(_ type: ProtocolTwo.FrameType, _ body: [UInt8], last: Bool = false) throws -> [UInt8] {
        try seal(plaintext: [type.rawValue | (last ? ProtocolTwo.lastUnderKeyBit : 0)] + body, rekey: last)
    }

    /// Seals any plaintext `T ‖ body` with the next nonce, then rekeys the sending key when `rekey`
    /// is set, whatever the type byte says.
    func seal(plaintext: [UInt8], rekey: Bool = false) throws -> [UInt8] {
        guard let transport else { throw PaddingtonError(.protocolViolation, "no session yet") }
        let sealed = try transport.sending.encryptWithAd([], plaintext)
        if rekey { transport.sending.rekey() }
        return sealed
    }

    func sendBinary(_ bytes: [UInt8]) async throws {
        try await raw.send(RawConnection.frame(opcode: RawFrame.binary, payload: bytes))
    }

    /// Sends several binary frames in one write (the server may close after the first).
    func sendBinary(frames: [[UInt8]]) async throws {
        try await raw.send(frames.flatMap { RawConnection.frame(opcode: RawFrame.binary, payload: $0) })
    }

    func sendText(_ bytes: [UInt8]) async throws {
        try await raw.send(RawConnection.frame(opcode: RawFrame.text, payload: bytes))
    }

    /// Seals and sends a DATA frame.
    func sendData(_ body: [UInt8]) async throws {
        try await sendBinary(try seal(.data, body))
    }

    /// Seals and sends a CONTROL frame with this body (any bytes, JSON or not).
    func sendControl(_ body: [UInt8]) async throws {
        try await sendBinary(try seal(.control, body))
    }

    // MARK: Frames in

    /// The server's next frame as it was on the wire, or nil when the connection closes or nothing
    /// comes in time.
    func nextFrame(timeout: Duration = .seconds(15)) async -> RawFrame? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let bytes = raw.received
            if consumed < bytes.count, let frame = RawFrame.parse(bytes[consumed...]) {
                consumed += frame.wire.count
                received.append(frame)
                return frame
            }
            if !raw.channel.isActive, raw.received.count == bytes.count { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }

    /// Opens the server's next binary frame with the next nonce of its direction, skipping CONTROL
    /// `Keepalive`s, unknown CONTROL variants (as `Agent`, to this client) and WebSocket Pings; nil when the connection closes or nothing comes in time.
    ///
    /// - Throws: a frame of another opcode, or one that does not open.
    func receive(timeout: Duration = .seconds(15)) async throws -> (type: ProtocolTwo.FrameType, body: [UInt8])? {
        try await open(timeout: timeout, skippingKeepalives: true)?.opened
    }

    /// The server's transport frame sealed with nonce `nonce`, as it was on the wire: read (and opened)
    /// up to it if it has not come yet; nil when it does not come in time. Frames read on the way are
    /// not returned by ``receive(timeout:)``.
    func serverFrame(nonce: UInt64, timeout: Duration = .seconds(15)) async throws -> RawFrame? {
        let deadline = ContinuousClock.now + timeout
        while sessionFrames.count <= nonce, ContinuousClock.now < deadline {
            guard try await open(timeout: deadline - ContinuousClock.now, skippingKeepalives: false) != nil else { break }
        }
        return sessionFrames.count > nonce ? sessionFrames[Int(nonce)] : nil
    }

    /// Opens the server's next transport frame (the next but keepalives, when skipping them) and keeps
    /// it as it was on the wire; nil when none comes in time.
    private func open(timeout: Duration, skippingKeepalives: Bool) async throws
        -> (frame: RawFrame, opened: (type: ProtocolTwo.FrameType, body: [UInt8]))?
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, let frame = await nextFrame(timeout: deadline - ContinuousClock.now) {
            if frame.opcode == RawFrame.ping || frame.opcode == RawFrame.pong { continue }
            guard frame.opcode == RawFrame.binary else {
                throw PaddingtonError(.protocolViolation, "the server sent opcode \(frame.opcode)")
            }
            guard let transport else { throw PaddingtonError(.protocolViolation, "no session yet") }
            var bytes = frame.payload
            let opened = try transport.opener.open(&bytes)
            sessionFrames.append(frame)
            let body = Array(bytes[opened.body])
            // Skipped as the protocol says an implementation ignores them: keepalives, and CONTROL variants
            // it does not know (our servers' `Agent` announcement, which this client never answers).
            let skippable: Bool
            if opened.type == .control, let message = try? ControlMessage.decode(body) {
                switch message {
                case .keepalive, .agent, .agentFrames, .unknown: skippable = true
                default: skippable = false
                }
            } else {
                skippable = false
            }
            if !(skippingKeepalives && skippable) { return (frame, (opened.type, body)) }
        }
        return nil
    }

    /// The nonce of the next frame this client seals, and of the next frame it opens (the count of
    /// frames the server has sent in the session).
    var nonces: (sending: UInt64, receiving: UInt64)? {
        transport.map { ($0.sending.nonce, $0.opener.nonce) }
    }

    /// How many times the server has rekeyed its direction (bit 7 honoured by this client's opener).
    var serverRekeys: UInt64 { transport?.opener.rekeyCount ?? 0 }

    /// Waits for the server to close: the status of its Close frame, if one came first (answered, as
    /// a well-behaved peer does), and whether the socket closed within `timeout`.
    func awaitClose(timeout: Duration = .seconds(15)) async -> (status: UInt16?, closed: Bool) {
        var status: UInt16?
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, let frame = await nextFrame(timeout: deadline - ContinuousClock.now) {
            if frame.opcode == RawFrame.close, status == nil {
                status = frame.closeStatus
                try? await raw.send(RawConnection.frame(opcode: RawFrame.close, payload: Array(frame.payload.prefix(2))))
            }
        }
        return (status, await raw.waitForClose(timeout: max(.zero, deadline - ContinuousClock.now)))
    }

    func close() async { await raw.close() }
}
