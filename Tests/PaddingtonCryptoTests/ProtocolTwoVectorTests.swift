import Testing
@testable import PaddingtonCrypto

/// Every value in `paddington-v2-vectors.json`, reproduced by our code.
@Suite("Protocol 2 vectors")
struct ProtocolTwoVectorTests {
    let v: ProtocolTwoVectors

    init() throws { v = try ProtocolTwoVectors.load() }

    @Test("the vectors are for Noise_NNpsk0_25519_ChaChaPoly_SHA256")
    func protocolName() {
        #expect(v.protocol == ProtocolTwo.noiseProtocolName)
    }

    @Test("psk_v2 = HMAC-SHA256(PSK_outer, label ‖ PSK_inner)")
    func psk() throws {
        let derived = ProtocolTwo.psk(from: try v.envelopeKeys)
        #expect(derived.exposeHex() == v.psk_v2)
        // The roles of the two keys are not interchangeable.
        let swapped = EnvelopeKeys(inner: try key(v.psk_outer), outer: try key(v.psk_inner))
        #expect(ProtocolTwo.psk(from: swapped) != derived)
    }

    @Test("the prologue from the offer and select headers")
    func prologue() {
        #expect(v.prologueBytes == bytes(v.prologue))
        #expect(String(decoding: v.prologueBytes, as: UTF8.self) == v.prologue_text)
    }

    @Test("message 1 from the initiator's fixed ephemeral key")
    func message1() throws {
        var initiator = try v.initiator()
        #expect(try initiator.writeMessage1() == bytes(v.msg1))
    }

    @Test("the responder opens message 1 and writes message 2 from its fixed ephemeral key")
    func message2() throws {
        var responder = try v.responder()
        #expect(responder.candidateIndex == 0)
        #expect(try responder.writeMessage2() == bytes(v.msg2))
    }

    @Test("the initiator reads message 2; both sides end with the vectors' handshake hash")
    func handshakeHash() throws {
        let (client, server) = try v.sessions()
        #expect(client.handshakeHash == bytes(v.handshake_hash))
        #expect(server.handshakeHash == bytes(v.handshake_hash))
    }

    @Test("the server's message 2 with a fresh ephemeral key is accepted too, and is different")
    func freshResponderEphemeral() throws {
        var initiator = try v.initiator()
        _ = try initiator.writeMessage1()
        var responder = try NoiseResponder.open(message1: bytes(v.msg1), psk: try v.psk, prologue: v.prologueBytes)
        let message2 = try responder.writeMessage2()
        #expect(message2 != bytes(v.msg2))
        let client = try initiator.readMessage2(message2)
        let server = try responder.finish()
        #expect(client.handshakeHash == server.handshakeHash)
        #expect(client.handshakeHash != bytes(v.handshake_hash))
    }

    @Test("every client-to-server frame: sealing gives the vector bytes, opening gives the plaintext")
    func clientToServer() throws {
        let (client, server) = try v.sessions()
        try check(v.client_to_server, sender: client, receiver: server)
        #expect(client.sealer.rekeyCount == 1)
        #expect(server.opener.rekeyCount == 1)
    }

    @Test("every server-to-client frame: sealing gives the vector bytes, opening gives the plaintext")
    func serverToClient() throws {
        let (client, server) = try v.sessions()
        try check(v.server_to_client, sender: server, receiver: client)
    }

    @Test("message 1 made under a prologue with the offer stripped does not open under the real one")
    func strippedOffer() throws {
        let tampered = bytes(v.msg1_with_stripped_offer_prologue)
        #expect(try openedIndex(tampered, candidates: [try v.psk], prologue: v.prologueBytes) == nil)
        #expect(throws: PaddingtonError.self) {
            _ = try NoiseResponder.open(message1: tampered, psk: try v.psk, prologue: v.prologueBytes)
        }
        // It is message 1 for the same ephemeral key under the prologue of a request without the header.
        var initiator = try NoiseInitiator(
            psk: try v.psk, prologue: ProtocolTwo.prologue(offer: "", select: v.select_header),
            ephemeralPrivateKey: try key(v.initiator_ephemeral_private))
        #expect(try initiator.writeMessage1() == tampered)
    }

    private func check(_ frames: [ProtocolTwoVectors.Frame], sender: ProtocolTwoSessionBox, receiver: ProtocolTwoSessionBox) throws {
        for frame in frames {
            let plaintext = bytes(frame.plaintext)
            let type = try #require(ProtocolTwo.FrameType(rawValue: frame.type & 0x7F))
            let last = frame.type & 0x80 != 0
            #expect(plaintext.first == frame.type)
            #expect(Array(plaintext.dropFirst()) == Array(frame.body_utf8.utf8))
            #expect(sender.sealer.nonce == frame.n)
            let sealed = try sender.sealer.seal(type, body: Array(frame.body_utf8.utf8), isLastUnderKey: last)
            #expect(Hex.encodeToString(sealed) == frame.frame, "frame \(frame.n)")

            #expect(receiver.opener.nonce == frame.n)
            var buffer = bytes(frame.frame)
            let opened = try receiver.opener.open(&buffer)
            #expect(opened.type == type)
            #expect(opened.isLastUnderKey == last)
            #expect(Array(buffer[opened.body]) == Array(frame.body_utf8.utf8))
            #expect(Array(buffer[0..<(buffer.count - 16)]) == plaintext)
        }
        #expect(sender.sealer.nonce == UInt64(frames.count))
        #expect(receiver.opener.nonce == UInt64(frames.count))
    }
}
