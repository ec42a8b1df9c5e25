/// The server's side of `Noise_NNpsk0_25519_ChaChaPoly_SHA256` (`-> psk, e` then `<- e, ee`).
///
/// Message 1 is opened **without any Diffie-Hellman**: the psk token comes first and the psk mode
/// mixes `e` into the key, so checking its tag costs HKDF and one AEAD per candidate. That is what
/// ``open(message1:candidates:prologue:ephemeralPrivateKey:)`` does for the client entries that admit
/// the source address, in configuration order.
///
/// ```swift
/// guard var responder = try NoiseResponder.open(message1: bytes, candidates: psks, prologue: prologue)
/// else { /* no candidate's key opens it: drop */ }
/// let client = entries[responder.candidateIndex]
/// let message2 = try responder.writeMessage2()     // send it
/// let session = try responder.finish()             // consumes the responder
/// ```
/// The value cannot be copied; its secrets are ``SecretKey``s, zeroed when it is dropped.
package struct NoiseResponder: ~Copyable, Sendable {
    /// The position in the candidate list of the PSK that opened message 1.
    package let candidateIndex: Int
    private var symmetric: NoiseSymmetricState
    private let remoteEphemeral: [UInt8]
    private let fixedEphemeral: SecretKey?
    private var step = Step.opened

    private enum Step: Sendable {
        case opened, wroteMessage2, failed
    }

    private init(candidateIndex: Int, symmetric: consuming NoiseSymmetricState, remoteEphemeral: [UInt8], fixedEphemeral: SecretKey?) {
        self.candidateIndex = candidateIndex
        self.symmetric = symmetric
        self.remoteEphemeral = remoteEphemeral
        self.fixedEphemeral = fixedEphemeral
    }

    /// Trial decryption: tries message 1 under each candidate PSK in order and returns a responder for
    /// the first that opens it, or nil when none does (drop the connection).
    ///
    /// `ephemeralPrivateKey` fixes the responder's ephemeral key, for reproducing test vectors only;
    /// by default a fresh one is drawn when message 2 is written.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` when `message1` is not 48 bytes.
    package static func open(
        message1: [UInt8],
        candidates: [SecretKey],
        prologue: [UInt8],
        ephemeralPrivateKey: SecretKey? = nil
    ) throws -> NoiseResponder? {
        guard message1.count == ProtocolTwo.message1Count else {
            throw PaddingtonError(
                .malformedFrame, "Noise message 1 is \(ProtocolTwo.message1Count) bytes, got \(message1.count)")
        }
        var start = NoiseSymmetricState(protocolName: ProtocolTwo.noiseProtocolName)
        start.mixHash(prologue)
        let remoteEphemeral = Array(message1[0..<32])
        let tag = Array(message1[32..<48])
        for (index, psk) in candidates.enumerated() {
            if let opened = attempt(from: start, psk: psk, remoteEphemeral: remoteEphemeral, tag: tag) {
                return NoiseResponder(
                    candidateIndex: index, symmetric: opened, remoteEphemeral: remoteEphemeral,
                    fixedEphemeral: ephemeralPrivateKey)
            }
        }
        return nil
    }

    /// The state after message 1 under `psk`, or nil when its tag does not verify.
    private static func attempt(
        from start: borrowing NoiseSymmetricState,
        psk: SecretKey,
        remoteEphemeral: [UInt8],
        tag: [UInt8]
    ) -> NoiseSymmetricState? {
        guard var attempt = start.duplicateBeforeKey() else { return nil }
        psk.withUnsafeBytes { attempt.mixKeyAndHash($0) }
        remoteEphemeral.withUnsafeBytes { re in
            attempt.mixHash(re)
            attempt.mixKey(re)  // the psk modifier
        }
        guard (try? attempt.decryptAndHash(tag)) != nil else { return nil }
        return attempt
    }

    /// Opens message 1 under one PSK.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` when `message1` is not 48 bytes,
    ///   ``PaddingtonError/Code-swift.struct/authenticationFailed`` when its tag does not verify (another
    ///   PSK, another prologue, or tampered bytes).
    package static func open(
        message1: [UInt8],
        psk: SecretKey,
        prologue: [UInt8],
        ephemeralPrivateKey: SecretKey? = nil
    ) throws -> NoiseResponder {
        if let opened = try open(
            message1: message1, candidates: [psk], prologue: prologue, ephemeralPrivateKey: ephemeralPrivateKey)
        {
            return opened
        }
        throw PaddingtonError(
            .authenticationFailed,
            "Noise message 1 did not verify (another PSK, another prologue, or tampered bytes)")
    }

    /// Writes message 2: `<- e, ee` and the tag of the empty payload (48 bytes).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when called a second time or
    ///   when the client's ephemeral key is of small order (the shared secret is all zeros); after
    ///   that, ``finish()`` throws too.
    package mutating func writeMessage2() throws -> [UInt8] {
        guard step == .opened else {
            throw PaddingtonError(
                .protocolViolation,
                step == .failed ? "this handshake already failed" : "Noise message 2 was already written; start a new handshake")
        }
        step = .failed  // until message 2 is complete
        let ephemeral = fixedEphemeral ?? SecretKey.generate()
        let ephemeralPublic = try NoiseSymmetricState.publicKey(of: ephemeral)
        ephemeralPublic.withUnsafeBytes { e in
            symmetric.mixHash(e)
            symmetric.mixKey(e)  // the psk modifier
        }
        try symmetric.mixKey(dh: ephemeral, remote: remoteEphemeral, what: "Noise message 1")
        let message = ephemeralPublic + (try symmetric.encryptAndHash([]))
        step = .wroteMessage2
        return message
    }

    /// Splits after message 2 and returns the session: the sealer carries server → client, the
    /// opener client → server. The client is not authenticated until its first frame opens.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when message 2 was not written
    ///   (or writing it failed).
    package consuming func finish() throws -> ProtocolTwo.Session {
        guard step == .wroteMessage2 else {
            throw PaddingtonError(
                .protocolViolation,
                step == .failed ? "this handshake already failed" : "the handshake cannot finish before Noise message 2 is written")
        }
        let hash = symmetric.handshakeHash
        let keys = symmetric.split()
        return ProtocolTwo.Session(
            sealer: ProtocolTwo.FrameSealer(key: keys.responderToInitiator),
            opener: ProtocolTwo.FrameOpener(key: keys.initiatorToResponder),
            handshakeHash: hash)
    }
}
