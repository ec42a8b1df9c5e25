// Protocol 2 fuzz targets: the transport frame opener and the two Noise handshake roles.
//
// Everything is keyed with the material of the v2 test vectors (shared/protocol/vectors/
// paddington-v2-vectors.json), so that the vectors' messages and frames, used as seeds, are valid
// and the fuzzer starts behind the tags.
//
// Input layout, both targets: one selector byte, then (handshake only) one 48-byte Noise message,
// then frames, each as a 2-byte big-endian length and that many bytes (the last may be short).
import Paddington
import PaddingtonCrypto

enum ProtocolTwoFixture {
    /// `psk_v2` of the vectors.
    static let psk = key("0a81e0a4afefc588b638951e4353c226919df7c432f6414e5801e66193350e9f")
    static let otherPSK = key("1111111111111111111111111111111111111111111111111111111111111111")
    static let initiatorEphemeral = key("39487911ea2a9931f72107d028013b8c6944cdda1dd07889db1b9df16ed8f68c")
    static let responderEphemeral = key("de49453845fd02acf6ab2429f467d28c0c2843af18d25a24be96da78528e64a7")
    /// The vectors' `Split()` outputs, so that the frame target need not run a handshake per input.
    static let clientToServer = key("c6da1a47436f3165ee099127a63c019b31dce37a119984c2aff5b6122b92b640")
    static let serverToClient = key("6e48fc983678ea51d29580ced48fe060c4b1c4adb859dc9411bdb7f4fa5d7bbf")
    static let prologue = ProtocolTwo.prologue(offer: "2", select: "2")

    static func key(_ hex: String) -> SecretKey {
        do { return try SecretKey(hex: hex) } catch { preconditionFailure("fixture key") }
    }
}

/// Splits `data` into length-prefixed frames (2-byte big-endian length).
func protocolTwoFrames(_ data: ArraySlice<UInt8>) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    var rest = data
    while rest.count >= 2, frames.count < 64 {
        let count = Int(rest[rest.startIndex]) << 8 | Int(rest[rest.startIndex + 1])
        rest = rest.dropFirst(2)
        frames.append(Array(rest.prefix(count)))
        rest = rest.dropFirst(count)
    }
    return frames
}

/// Opens `frames` in order; after the first failure, checks that the opener refuses everything.
func fuzzOpen(_ frames: [[UInt8]], with opener: inout ProtocolTwo.FrameOpener) {
    for frame in frames {
        var buffer = frame
        let wasUsable = opener.isUsable
        do {
            let opened = try opener.open(&buffer)
            precondition(wasUsable, "an opener that had failed opened a frame")
            precondition(opened.body == 1..<(frame.count - 16), "the body range is not 1 ..< count − 16")
            precondition(opened.type != .data || !opened.body.isEmpty, "an empty DATA frame was accepted")
        } catch let error as PaddingtonError {
            precondition(!opener.isUsable, "a failed frame left the opener usable")
            precondition(wasUsable || error.code == .connectionClosed, "a failed opener did not say so")
        } catch {
            preconditionFailure("the opener threw \(error)")
        }
    }
}

/// `v2frame`: selector bit 0 picks the direction (0: client → server, 1: server → client).
func fuzzProtocolTwoFrame(_ data: [UInt8]) {
    guard let selector = data.first else { return }
    let key = selector & 1 == 0 ? ProtocolTwoFixture.clientToServer : ProtocolTwoFixture.serverToClient
    var opener = ProtocolTwo.FrameOpener(key: key)
    fuzzOpen(protocolTwoFrames(data.dropFirst()), with: &opener)

    // The same bytes as a body through a sealer and an opener of one key, with a rekey in between.
    let body = Array(data.dropFirst())
    var sealer = ProtocolTwo.FrameSealer(key: key)
    var twin = ProtocolTwo.FrameOpener(key: key)
    for (index, type) in [ProtocolTwo.FrameType.control, .data, .control].enumerated() {
        guard type == .control || !body.isEmpty else { continue }
        do {
            var frame = try sealer.seal(type, body: body, isLastUnderKey: index == 0)
            let opened = try twin.open(&frame)
            precondition(Array(frame[opened.body]) == body && opened.type == type, "a frame did not round trip")
        } catch {
            preconditionFailure("a valid frame failed: \(error)")
        }
    }
}

/// `v2handshake`: selector bit 0 picks the role. 0: the responder reads message 1 (trial decryption
/// over two candidates), writes message 2 and opens the frames that follow as client → server.
/// 1: the initiator writes message 1, reads message 2 and opens the frames as server → client.
func fuzzProtocolTwoHandshake(_ data: [UInt8]) {
    guard let selector = data.first else { return }
    let message = Array(data.dropFirst().prefix(ProtocolTwo.message1Count))
    let frames = protocolTwoFrames(data.dropFirst(1 + ProtocolTwo.message1Count))
    if selector & 1 == 0 {
        let opened: NoiseResponder?
        do {
            opened = try NoiseResponder.open(
                message1: message, candidates: [ProtocolTwoFixture.otherPSK, ProtocolTwoFixture.psk],
                prologue: ProtocolTwoFixture.prologue, ephemeralPrivateKey: ProtocolTwoFixture.responderEphemeral)
        } catch {
            precondition(message.count != ProtocolTwo.message1Count, "a 48-byte message 1 threw \(error)")
            return
        }
        guard var responder = opened else { return }
        precondition(responder.candidateIndex == 1, "message 1 opened under the wrong candidate")
        guard (try? responder.writeMessage2()) != nil, let session = try? responder.finish() else { return }
        var opener = session.opener
        fuzzOpen(frames, with: &opener)
    } else {
        do {
            var initiator = try NoiseInitiator(
                psk: ProtocolTwoFixture.psk, prologue: ProtocolTwoFixture.prologue,
                ephemeralPrivateKey: ProtocolTwoFixture.initiatorEphemeral)
            _ = try initiator.writeMessage1()
            let session = try initiator.readMessage2(message)
            var opener = session.opener
            fuzzOpen(frames, with: &opener)
        } catch {
            return
        }
    }
}
