import Foundation
import Testing
@testable import PaddingtonCrypto

/// The protocol 2 vectors (`shared/protocol/vectors/paddington-v2-vectors.json`, copied under
/// Fixtures/), made with an independent Noise implementation.
struct ProtocolTwoVectors: Decodable {
    struct Frame: Decodable {
        let n: UInt64
        let type: UInt8
        let body_utf8: String
        let plaintext: String
        let frame: String
    }

    let `protocol`: String
    let psk_inner: String
    let psk_outer: String
    let psk_v2: String
    let offer_header: String
    let select_header: String
    let prologue: String
    let prologue_text: String
    let initiator_ephemeral_private: String
    let responder_ephemeral_private: String
    let msg1: String
    let msg2: String
    let handshake_hash: String
    let client_to_server: [Frame]
    let server_to_client: [Frame]
    let msg1_with_stripped_offer_prologue: String

    static func load() throws -> ProtocolTwoVectors {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let data = try Data(contentsOf: here.appendingPathComponent("Fixtures/paddington-v2-vectors.json"))
        return try JSONDecoder().decode(ProtocolTwoVectors.self, from: data)
    }

    var envelopeKeys: EnvelopeKeys {
        get throws { EnvelopeKeys(inner: try key(psk_inner), outer: try key(psk_outer)) }
    }
    var psk: SecretKey { get throws { try key(psk_v2) } }
    var prologueBytes: [UInt8] { ProtocolTwo.prologue(offer: offer_header, select: select_header) }

    func initiator() throws -> NoiseInitiator {
        try NoiseInitiator(psk: try psk, prologue: prologueBytes, ephemeralPrivateKey: try key(initiator_ephemeral_private))
    }

    func responder() throws -> NoiseResponder {
        try NoiseResponder.open(
            message1: bytes(msg1), psk: try psk, prologue: prologueBytes,
            ephemeralPrivateKey: try key(responder_ephemeral_private))
    }

    /// Both sessions of the vectors' handshake: (client, server).
    func sessions() throws -> (client: ProtocolTwoSessionBox, server: ProtocolTwoSessionBox) {
        var initiator = try initiator()
        _ = try initiator.writeMessage1()
        var responder = try responder()
        _ = try responder.writeMessage2()
        return (ProtocolTwoSessionBox(try initiator.readMessage2(bytes(msg2))), ProtocolTwoSessionBox(try responder.finish()))
    }
}

/// A session in a class, so that tests can pass one around and reach both halves.
final class ProtocolTwoSessionBox {
    var sealer: ProtocolTwo.FrameSealer
    var opener: ProtocolTwo.FrameOpener
    let handshakeHash: [UInt8]

    init(_ session: consuming ProtocolTwo.Session) {
        handshakeHash = session.handshakeHash
        sealer = session.sealer
        opener = session.opener
    }
}

/// The candidate index trial decryption picks for `message1`, or nil when none opens it.
func openedIndex(_ message1: [UInt8], candidates: [SecretKey], prologue: [UInt8]) throws -> Int? {
    guard let responder = try NoiseResponder.open(message1: message1, candidates: candidates, prologue: prologue) else {
        return nil
    }
    return responder.candidateIndex
}

/// Runs `body` and checks that it throws a ``PaddingtonError`` with `code` (and, when given, a message
/// containing `text`). Returns the error.
@discardableResult
func expectError(
    _ code: PaddingtonError.Code,
    containing text: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) -> PaddingtonError? {
    expectError(code, containing: text, sourceLocation: sourceLocation, consuming: ()) { _ in try body() }
}

/// A fresh random key.
func randomKey() -> SecretKey { SecretKey.generate() }

/// ``expectError(_:containing:sourceLocation:_:)`` for a step that consumes a noncopyable value
/// (`readMessage2`, `finish`), which a closure cannot capture and consume.
@discardableResult
func expectError<Value: ~Copyable>(
    _ code: PaddingtonError.Code,
    containing text: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    consuming value: consuming Value,
    _ body: (consuming Value) throws -> Void
) -> PaddingtonError? {
    do {
        try body(value)
        Issue.record("expected a \(code) error, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as PaddingtonError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let text {
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected a PaddingtonError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
