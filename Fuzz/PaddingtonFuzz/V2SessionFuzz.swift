// The `v2session` fuzz target: frames fed to the protocol 2 handshake machines after a real
// handshake, so that the session start (PeerDetails, standby polls) is reached behind the tags.
//
// The machines run with the v2 vectors' inputs (invitation keys, fixed ephemeral keys, names
// `echo-client` / `echo-server` in zone `default`, engine `swift-paddington` 0.2.0), so their Noise
// messages are the vectors' and the session keys are the vectors' `Split()` outputs: the harness seals
// the fuzzer's frames with them, and the vectors' frames are valid as they are.
//
// Input: one selector byte, then frames, each a 2-byte big-endian length and that many bytes (the
// last may be short). Selector bit 0: 0 feeds the server machine client → server frames, 1 feeds the
// client machine server → client frames. Bits 1–2: the server's standby decisions (0: primary;
// 1: secondary client twice, then primary; 2: secondary server; 3: secondary client every time).
// A frame whose first byte is 0xFE is given as the rest of its bytes, as is (the harness's nonce moves
// on by one); an empty frame is given as is; any other first byte T is the type byte of a plaintext
// `T ‖ rest` that the harness seals with the next nonce of the direction (and rekeys after, when T
// has bit 7), so unknown types, empty DATA and any JSON are reached.
import Paddington
import PaddingtonCrypto

enum V2SessionFixture {
    static let keys = EnvelopeKeys(
        inner: ProtocolTwoFixture.key("07092caf78098c787d2f7885ecdad2fb8921bab20e8718774ddfe91c05eb88d3"),
        outer: ProtocolTwoFixture.key("91b41bfe3d25f52ff93f87e8c01c781a8a0ac4d0f8b924ea8c515b146763a894"))
    static let identity = EngineIdentity(engine: "swift-paddington", version: "0.2.0")
    static let message1 = hex("615d960f7173f1b8125f285f02a35d86704a57227d267b38457133c1be2e89080516412d51e153fbbcef85a926c18683")
    static let message2 = hex("e493853bd51b827fcce90c35332a584d596071bc24cb9d5643e41637a7af771e1b0cc88d4ae05998aeab77509c097acd")
    /// The raw-frame marker.
    static let raw: UInt8 = 0xFE

    static func hex(_ text: String) -> [UInt8] {
        guard let bytes = Hex.decode(text) else { preconditionFailure("fixture hex") }
        return bytes
    }

    static var client: ClientEntry {
        ClientEntry(name: "echo-client", allowance: Fixture.everyAddress, zone: "default", keys: keys)
    }

    static var stranger: ClientEntry {
        ClientEntry(name: "stranger", allowance: Fixture.everyAddress, zone: "default", keys: Fixture.psk)
    }

    static var server: ServerEntry? {
        guard let url = try? WebSocketURL(parsing: "ws://127.0.0.1:6501/") else { return nil }
        return ServerEntry(name: "echo-server", url: url, zone: "default", keys: keys)
    }

    static func decision(_ pattern: UInt8, _ index: Int) -> WireMessage.Standby {
        switch pattern {
        case 0: return .primary
        case 1: return index < 2 ? .secondaryClient : .primary
        case 2: return .secondaryServer
        default: return .secondaryClient
        }
    }
}

/// The fuzzer's side of one direction: seals its frames with the direction's session key.
private struct FuzzPeer: ~Copyable {
    var sending: NoiseCipherState
    /// Opens what the machine sends, which must always be valid CONTROL frames.
    var receiving: ProtocolTwo.FrameOpener

    /// The frame the machine is given for one fuzzer frame.
    mutating func frame(_ bytes: [UInt8]) -> [UInt8] {
        guard let marker = bytes.first else { return bytes }
        if marker == V2SessionFixture.raw {
            _ = try? sending.encryptWithAd([], [])
            return Array(bytes.dropFirst())
        }
        guard let sealed = try? sending.encryptWithAd([], bytes) else { return bytes }
        if marker & ProtocolTwo.lastUnderKeyBit != 0 { sending.rekey() }
        return sealed
    }

    /// Checks a frame the machine sent after its Noise message.
    mutating func check(sent frame: [UInt8]) {
        var bytes = frame
        do {
            let opened = try receiving.open(&bytes)
            precondition(opened.type == .control, "a handshake machine sent DATA during the session start")
            precondition((try? ControlMessage.decode(Array(bytes[opened.body]))) != nil, "a handshake machine sent a CONTROL body it cannot read")
        } catch {
            preconditionFailure("a handshake machine sent a frame its peer cannot open: \(error)")
        }
    }
}

/// What happened to the machine so far.
private struct Progress {
    var established = false
    var failed = false

    mutating func record(_ action: HandshakeAction) {
        switch action {
        case .established:
            precondition(!established && !failed, "a machine established twice, or after failing")
            established = true
        case .fail:
            precondition(!established, "a machine failed after establishing")
            failed = true
        default:
            break
        }
    }
}

func fuzzProtocolTwoSession(_ data: [UInt8]) {
    guard let selector = data.first else { return }
    let frames = protocolTwoFrames(data.dropFirst())
    if selector & 1 == 0 {
        fuzzServerSession(frames, pattern: (selector >> 1) & 3)
    } else {
        fuzzClientSession(frames)
    }
}

private func fuzzServerSession(_ frames: [[UInt8]], pattern: UInt8) {
    let candidates = [V2SessionFixture.stranger, V2SessionFixture.client]
    var server = ProtocolTwoServerHandshake(
        localName: "echo-server", clients: candidates, keys: candidates.map { ProtocolTwo.psk(from: $0.keys) },
        prologue: ProtocolTwoFixture.prologue, identity: V2SessionFixture.identity,
        ephemeralPrivateKey: ProtocolTwoFixture.responderEphemeral)
    let start = server.receive(V2SessionFixture.message1)
    guard case .sendBinary(let message2)? = start.first, start.count == 1 else {
        preconditionFailure("the server machine did not answer the vectors' message 1: \(start)")
    }
    precondition(message2 == V2SessionFixture.message2, "the server machine's message 2 is not the vectors'")
    precondition(server.identifiedClient?.name == "echo-client", "trial decryption picked the wrong client")
    var peer = FuzzPeer(
        sending: NoiseCipherState(key: ProtocolTwoFixture.clientToServer),
        receiving: ProtocolTwo.FrameOpener(key: ProtocolTwoFixture.serverToClient))
    var progress = Progress()
    var decisions = 0
    for frame in frames {
        var actions = server.receive(peer.frame(frame))
        var index = 0
        while index < actions.count, index < 16 {
            let action = actions[index]
            index += 1
            progress.record(action)
            switch action {
            case .sendBinary(let sent):
                peer.check(sent: sent)
            case .decideStandby(let name, let zone):
                precondition(name == "echo-client" && zone == "default", "a decision for another client")
                actions += server.standbyDecided(V2SessionFixture.decision(pattern, decisions))
                decisions += 1
            case .send, .waitThenPoll:
                preconditionFailure("the server machine asked for \(action)")
            case .established(let session):
                precondition(session.peerName == "echo-client" && session.codec.protocolVersion == 2, "established with the wrong peer")
            case .fail:
                break
            }
        }
        if progress.failed || progress.established {
            // Done: anything more is refused, and nothing is sent.
            let after = server.receive(frame)
            precondition(after.count == 1, "a finished server machine did more than fail")
            if case .fail = after[0] {} else { preconditionFailure("a finished server machine did not fail") }
            return
        }
    }
}

private func fuzzClientSession(_ frames: [[UInt8]]) {
    guard let entry = V2SessionFixture.server,
        var client = try? ProtocolTwoClientHandshake(
            localName: "echo-client", server: entry, identity: V2SessionFixture.identity, prologue: ProtocolTwoFixture.prologue,
            ephemeralPrivateKey: ProtocolTwoFixture.initiatorEphemeral)
    else { preconditionFailure("the client machine could not be made") }
    let start = client.upgraded()
    guard case .sendBinary(let message1)? = start.first, start.count == 1 else {
        preconditionFailure("the client machine did not send message 1: \(start)")
    }
    precondition(message1 == V2SessionFixture.message1, "the client machine's message 1 is not the vectors'")
    var peer = FuzzPeer(
        sending: NoiseCipherState(key: ProtocolTwoFixture.serverToClient),
        receiving: ProtocolTwo.FrameOpener(key: ProtocolTwoFixture.clientToServer))
    var progress = Progress()
    let details = client.receive(V2SessionFixture.message2)
    guard case .sendBinary(let first)? = details.first, details.count == 1 else {
        preconditionFailure("the client machine did not send PeerDetails after the vectors' message 2: \(details)")
    }
    peer.check(sent: first)
    for frame in frames {
        var actions = client.receive(peer.frame(frame))
        var index = 0
        while index < actions.count, index < 16 {
            let action = actions[index]
            index += 1
            progress.record(action)
            switch action {
            case .sendBinary(let sent):
                peer.check(sent: sent)
            case .waitThenPoll:
                // The wait is over at once; a second firing while the poll is out does nothing.
                actions += client.standbyTimerFired()
                precondition(client.standbyTimerFired().isEmpty, "the client polled twice")
            case .send, .decideStandby:
                preconditionFailure("the client machine asked for \(action)")
            case .established(let session):
                precondition(session.peerName == "echo-server" && session.codec.protocolVersion == 2, "established with the wrong peer")
            case .fail:
                break
            }
        }
        if progress.failed || progress.established {
            let after = client.receive(frame)
            precondition(after.count == 1, "a finished client machine did more than fail")
            if case .fail = after[0] {} else { preconditionFailure("a finished client machine did not fail") }
            return
        }
    }
}
