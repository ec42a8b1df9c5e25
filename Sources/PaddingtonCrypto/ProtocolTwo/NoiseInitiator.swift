/// The client's side of `Noise_NNpsk0_25519_ChaChaPoly_SHA256` (`-> psk, e` then `<- e, ee`).
///
/// ```swift
/// var initiator = try NoiseInitiator(psk: ProtocolTwo.psk(from: keys), prologue: prologue)
/// let message1 = try initiator.writeMessage1()       // 48 bytes
/// let session = try initiator.readMessage2(message2)  // consumes the initiator
/// ```
/// The value cannot be copied; the ephemeral private key, the PSK, the chaining key and the cipher
/// key are ``SecretKey``s and are zeroed when the handshake state is dropped. ``readMessage2(_:)``
/// consumes the state whether it succeeds or throws: a failed handshake cannot be continued.
package struct NoiseInitiator: ~Copyable, Sendable {
    private var symmetric: NoiseSymmetricState
    private let psk: SecretKey
    private let ephemeralPrivate: SecretKey
    private let ephemeralPublic: [UInt8]
    private var step = Step.ready

    private enum Step: Sendable {
        case ready, wroteMessage1, failed
    }

    /// A handshake under `psk` (``ProtocolTwo/psk(from:)``) and `prologue`
    /// (``ProtocolTwo/prologue(offer:select:)``) with a fresh ephemeral key from the system CSPRNG.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` if X25519 refuses the
    ///   generated key (not expected to happen).
    package init(psk: SecretKey, prologue: [UInt8]) throws {
        try self.init(psk: psk, prologue: prologue, ephemeralPrivateKey: SecretKey.generate())
    }

    /// A handshake with a fixed ephemeral private key, for reproducing test vectors. Never use a
    /// fixed key outside tests: it removes forward secrecy.
    package init(psk: SecretKey, prologue: [UInt8], ephemeralPrivateKey: SecretKey) throws {
        self.psk = psk
        ephemeralPrivate = ephemeralPrivateKey
        ephemeralPublic = try NoiseSymmetricState.publicKey(of: ephemeralPrivateKey)
        symmetric = NoiseSymmetricState(protocolName: ProtocolTwo.noiseProtocolName)
        symmetric.mixHash(prologue)
    }

    /// Writes message 1: `-> psk, e` and the tag of the empty payload (48 bytes).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when called a second time.
    package mutating func writeMessage1() throws -> [UInt8] {
        guard step == .ready else {
            throw PaddingtonError(
                .protocolViolation,
                step == .failed ? "this handshake already failed" : "Noise message 1 was already written; start a new handshake")
        }
        step = .failed  // until message 1 is complete
        psk.withUnsafeBytes { symmetric.mixKeyAndHash($0) }
        ephemeralPublic.withUnsafeBytes { e in
            symmetric.mixHash(e)
            symmetric.mixKey(e)  // the psk modifier: e is also mixed into the key
        }
        let message = ephemeralPublic + (try symmetric.encryptAndHash([]))
        step = .wroteMessage1
        return message
    }

    /// Reads message 2 (`<- e, ee` and the tag of the empty payload), splits, and returns the
    /// session: the sealer carries client → server, the opener server → client.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` when `message` is not 48 bytes,
    ///   ``PaddingtonError/Code-swift.struct/protocolViolation`` when message 1 was not written or the
    ///   shared secret is all zeros (a small-order point), and
    ///   ``PaddingtonError/Code-swift.struct/authenticationFailed`` when the tag does not verify
    ///   (not this handshake's responder, or tampered bytes).
    package consuming func readMessage2(_ message: [UInt8]) throws -> ProtocolTwo.Session {
        guard step == .wroteMessage1 else {
            throw PaddingtonError(
                .protocolViolation,
                step == .failed ? "this handshake already failed" : "Noise message 2 arrived before message 1 was written")
        }
        guard message.count == ProtocolTwo.message2Count else {
            throw PaddingtonError(
                .malformedFrame, "Noise message 2 is \(ProtocolTwo.message2Count) bytes, got \(message.count)")
        }
        let remoteEphemeral = Array(message[0..<32])
        remoteEphemeral.withUnsafeBytes { re in
            symmetric.mixHash(re)
            symmetric.mixKey(re)
        }
        try symmetric.mixKey(dh: ephemeralPrivate, remote: remoteEphemeral, what: "Noise message 2")
        do {
            _ = try symmetric.decryptAndHash(Array(message[32..<48]))
        } catch let error as PaddingtonError where error.code == .authenticationFailed {
            throw PaddingtonError(
                .authenticationFailed,
                "Noise message 2 did not verify (a responder without this PSK, another prologue, or tampered bytes)")
        }
        let hash = symmetric.handshakeHash
        let keys = symmetric.split()
        return ProtocolTwo.Session(
            sealer: ProtocolTwo.FrameSealer(key: keys.initiatorToResponder),
            opener: ProtocolTwo.FrameOpener(key: keys.responderToInitiator),
            handshakeHash: hash)
    }
}
