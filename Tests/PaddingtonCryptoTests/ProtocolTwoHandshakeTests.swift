import Testing
@testable import PaddingtonCrypto

/// The Noise NNpsk0 handshake refusing what it must refuse.
@Suite("Protocol 2 handshake")
struct ProtocolTwoHandshakeTests {
    let v: ProtocolTwoVectors

    init() throws { v = try ProtocolTwoVectors.load() }

    /// Message 1 written by a PSK holder whose ephemeral public key is `ephemeral` (any 32 bytes):
    /// what a malicious client could send.
    private func message1(withEphemeral ephemeral: [UInt8]) throws -> [UInt8] {
        var state = NoiseSymmetricState(protocolName: ProtocolTwo.noiseProtocolName)
        state.mixHash(v.prologueBytes)
        try v.psk.withUnsafeBytes { state.mixKeyAndHash($0) }
        ephemeral.withUnsafeBytes { e in
            state.mixHash(e)
            state.mixKey(e)
        }
        return ephemeral + (try state.encryptAndHash([]))
    }

    @Test("a fresh handshake: both sides agree, each run has its own handshake hash and keys")
    func roundTrip() throws {
        let psk = randomKey()
        let prologue = ProtocolTwo.prologue(offer: "2", select: "2")
        var hashes: [[UInt8]] = []
        var firstFrames: [[UInt8]] = []
        for _ in 0..<2 {
            var initiator = try NoiseInitiator(psk: psk, prologue: prologue)
            let message1 = try initiator.writeMessage1()
            #expect(message1.count == ProtocolTwo.message1Count)
            var responder = try NoiseResponder.open(message1: message1, psk: psk, prologue: prologue)
            let message2 = try responder.writeMessage2()
            #expect(message2.count == ProtocolTwo.message2Count)
            let client = ProtocolTwoSessionBox(try initiator.readMessage2(message2))
            let server = ProtocolTwoSessionBox(try responder.finish())
            #expect(client.handshakeHash == server.handshakeHash)
            #expect(client.handshakeHash.count == 32)
            hashes.append(client.handshakeHash)

            let up = try client.sealer.seal(.data, body: Array("up".utf8))
            firstFrames.append(up)
            var frame = up
            let opened = try server.opener.open(&frame)
            #expect(Array(frame[opened.body]) == Array("up".utf8))
            var down = try server.sealer.seal(.control, body: Array("{}".utf8))
            let back = try client.opener.open(&down)
            #expect(back.type == .control && Array(down[back.body]) == Array("{}".utf8))
        }
        #expect(hashes[0] != hashes[1])
        #expect(firstFrames[0] != firstFrames[1])
    }

    @Test("message 1 under another PSK does not open")
    func wrongPSK() throws {
        var initiator = try NoiseInitiator(psk: randomKey(), prologue: v.prologueBytes)
        let message1 = try initiator.writeMessage1()
        #expect(try openedIndex(message1, candidates: [try v.psk], prologue: v.prologueBytes) == nil)
        expectError(.authenticationFailed, containing: "message 1") {
            _ = try NoiseResponder.open(message1: message1, psk: try v.psk, prologue: v.prologueBytes)
        }
    }

    @Test("message 1 under another prologue does not open (a changed offer or select header)")
    func wrongPrologue() throws {
        for (offer, select) in [("2", "3"), ("2,1", "2"), ("", "2"), ("2", ""), ("2 ", "2")] {
            var initiator = try NoiseInitiator(
                psk: try v.psk, prologue: ProtocolTwo.prologue(offer: offer, select: select),
                ephemeralPrivateKey: try key(v.initiator_ephemeral_private))
            let message1 = try initiator.writeMessage1()
            #expect(try openedIndex(message1, candidates: [try v.psk], prologue: v.prologueBytes) == nil, "\(offer) \(select)")
        }
    }

    @Test("every single-bit change of message 1 is refused")
    func tamperedMessage1() throws {
        let original = bytes(v.msg1)
        #expect(try openedIndex(original, candidates: [try v.psk], prologue: v.prologueBytes) == 0)
        for index in original.indices {
            for bit in 0..<8 {
                var tampered = original
                tampered[index] ^= UInt8(1) << bit
                #expect(try openedIndex(tampered, candidates: [try v.psk], prologue: v.prologueBytes) == nil, "byte \(index) bit \(bit)")
            }
        }
    }

    @Test("every single-bit change of message 2 is refused")
    func tamperedMessage2() throws {
        let original = bytes(v.msg2)
        for index in original.indices {
            for bit in 0..<8 {
                var tampered = original
                tampered[index] ^= UInt8(1) << bit
                var initiator = try v.initiator()
                _ = try initiator.writeMessage1()
                // Bit 7 of the last byte of `e` is ignored by X25519; the transcript hash still catches it.
                expectError(.authenticationFailed, containing: "message 2", consuming: initiator) { _ = try $0.readMessage2(tampered) }
            }
        }
        var initiator = try v.initiator()
        _ = try initiator.writeMessage1()
        _ = try initiator.readMessage2(original)
    }

    @Test("message 2 from another handshake (a responder without this PSK) is refused")
    func message2FromAnotherHandshake() throws {
        var initiator = try v.initiator()
        _ = try initiator.writeMessage1()
        let otherPSK = randomKey()
        var stranger = try NoiseInitiator(psk: otherPSK, prologue: v.prologueBytes)
        var responder = try NoiseResponder.open(message1: try stranger.writeMessage1(), psk: otherPSK, prologue: v.prologueBytes)
        let message2 = try responder.writeMessage2()
        expectError(.authenticationFailed, containing: "message 2", consuming: initiator) { _ = try $0.readMessage2(message2) }
    }

    @Test("messages of the wrong length are malformed", arguments: [0, 1, 32, 47, 49, 96])
    func wrongLength(count: Int) throws {
        let message = [UInt8](repeating: 0x42, count: count)
        expectError(.malformedFrame, containing: "48 bytes, got \(count)") {
            _ = try NoiseResponder.open(message1: message, candidates: [try v.psk], prologue: v.prologueBytes)
        }
        var initiator = try v.initiator()
        _ = try initiator.writeMessage1()
        expectError(.malformedFrame, containing: "48 bytes, got \(count)", consuming: initiator) { _ = try $0.readMessage2(message) }
    }

    @Test("trial decryption picks the right candidate, and the first of two equal ones")
    func candidates() throws {
        let psk = try v.psk
        let message1 = bytes(v.msg1)
        let others = (0..<5).map { _ in randomKey() }
        #expect(try openedIndex(message1, candidates: [], prologue: v.prologueBytes) == nil)
        #expect(try openedIndex(message1, candidates: others, prologue: v.prologueBytes) == nil)
        #expect(try openedIndex(message1, candidates: [psk] + others, prologue: v.prologueBytes) == 0)
        #expect(try openedIndex(message1, candidates: others[0..<3] + [psk] + others[3...], prologue: v.prologueBytes) == 3)
        #expect(try openedIndex(message1, candidates: others + [psk], prologue: v.prologueBytes) == 5)
        #expect(try openedIndex(message1, candidates: [others[0], psk, others[1], psk], prologue: v.prologueBytes) == 1)
        // A copy of the key (another storage, same bytes) counts as equal too.
        let copy = try key(v.psk_v2)
        #expect(try openedIndex(message1, candidates: [others[0], copy, psk], prologue: v.prologueBytes) == 1)

        // The responder found among candidates continues to the same handshake as the vectors'.
        guard
            var responder = try NoiseResponder.open(
                message1: message1, candidates: others + [psk], prologue: v.prologueBytes,
                ephemeralPrivateKey: try key(v.responder_ephemeral_private))
        else {
            Issue.record("message 1 did not open among the candidates")
            return
        }
        #expect(responder.candidateIndex == 5)
        #expect(try responder.writeMessage2() == bytes(v.msg2))
        #expect(try responder.finish().handshakeHash == bytes(v.handshake_hash))
    }

    @Test("a client's ephemeral key of small order is refused when the server writes message 2")
    func smallOrderMessage1() throws {
        let smallOrder: [[UInt8]] = [
            [UInt8](repeating: 0, count: 32),
            [1] + [UInt8](repeating: 0, count: 31),
            bytes("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  // p − 1
        ]
        for point in smallOrder {
            let message1 = try message1(withEphemeral: point)
            var responder = try NoiseResponder.open(message1: message1, psk: try v.psk, prologue: v.prologueBytes)
            expectError(.protocolViolation, containing: "small order") { _ = try responder.writeMessage2() }
            expectError(.protocolViolation, containing: "already failed") { _ = try responder.writeMessage2() }
            expectError(.protocolViolation, containing: "already failed", consuming: responder) { _ = try $0.finish() }
        }
    }

    @Test("a server's ephemeral key of small order is refused")
    func smallOrderMessage2() throws {
        var initiator = try v.initiator()
        _ = try initiator.writeMessage1()
        let message2 = [UInt8](repeating: 0, count: 32) + bytes(v.msg2).suffix(16)
        expectError(.protocolViolation, containing: "small order", consuming: initiator) { _ = try $0.readMessage2(message2) }
    }

    @Test("the roles refuse steps out of order")
    func outOfOrder() throws {
        var initiator = try v.initiator()
        _ = try initiator.writeMessage1()
        expectError(.protocolViolation, containing: "already written") { _ = try initiator.writeMessage1() }

        let early = try v.initiator()
        expectError(.protocolViolation, containing: "before message 1", consuming: early) { _ = try $0.readMessage2(bytes(v.msg2)) }

        var responder = try v.responder()
        _ = try responder.writeMessage2()
        expectError(.protocolViolation, containing: "already written") { _ = try responder.writeMessage2() }

        let unfinished = try v.responder()
        expectError(.protocolViolation, containing: "before Noise message 2", consuming: unfinished) { _ = try $0.finish() }
    }

    @Test("psk_v2 depends on both invitation keys")
    func pskInputs() throws {
        let keys = try v.envelopeKeys
        let base = ProtocolTwo.psk(from: keys)
        #expect(ProtocolTwo.psk(from: EnvelopeKeys(inner: randomKey(), outer: keys.outer)) != base)
        #expect(ProtocolTwo.psk(from: EnvelopeKeys(inner: keys.inner, outer: randomKey())) != base)
        #expect(ProtocolTwo.psk(from: keys) == base)
        #expect("\(base)" == "SecretKey(<redacted>)")
    }
}
