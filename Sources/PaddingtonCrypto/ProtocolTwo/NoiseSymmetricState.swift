/// Noise's `SymmetricState` for SHA-256: the chaining key `ck`, the handshake hash `h` and a
/// ``NoiseCipherState``.
///
/// `ck` and the cipher key are ``SecretKey``s (zeroed when released); `h` is the transcript hash,
/// not secret, and is what the handshake exposes as a channel binding.
package struct NoiseSymmetricState: ~Copyable, Sendable {
    private var cipher: NoiseCipherState
    private var chainingKey: SecretKey
    /// `h`, 32 bytes.
    package private(set) var handshakeHash: [UInt8]

    /// Noise's `InitializeSymmetric(protocol_name)`: `h` is the name zero-padded to 32 bytes when it
    /// fits, else its SHA-256; `ck = h`; no cipher key.
    package init(protocolName: String) {
        let name = Array(protocolName.utf8)
        var h = [UInt8](repeating: 0, count: 32)
        if name.count <= 32 {
            h.replaceSubrange(0..<name.count, with: name)
        } else {
            name.withUnsafeBytes { name in
                h.withUnsafeMutableBytes { Sodium.sha256(name, output: $0.baseAddress!) }
            }
        }
        handshakeHash = h
        chainingKey = h.withUnsafeBytes { h in SecretKey { $0.copyMemory(from: h) } }
        cipher = NoiseCipherState()
    }

    private init(chainingKey: SecretKey, handshakeHash: [UInt8]) {
        self.chainingKey = chainingKey
        self.handshakeHash = handshakeHash
        cipher = NoiseCipherState()
    }

    /// An independent state with the same `ck` and `h`, for trying several PSKs from one starting
    /// point. Only allowed before a cipher key is set (a cipher state is never duplicated).
    func duplicateBeforeKey() -> NoiseSymmetricState? {
        guard !cipher.hasKey else { return nil }
        return NoiseSymmetricState(chainingKey: chainingKey, handshakeHash: handshakeHash)
    }

    /// Whether a cipher key is set.
    package var hasKey: Bool { cipher.hasKey }

    // MARK: Hashing and keys

    /// `MixHash(data)`: `h = SHA-256(h ‖ data)`.
    package mutating func mixHash(_ data: UnsafeRawBufferPointer) {
        handshakeHash.withUnsafeMutableBytes { h in
            Sodium.sha256(UnsafeRawBufferPointer(h), data, output: h.baseAddress!)
        }
    }

    /// `MixHash(data)` for an array.
    package mutating func mixHash(_ data: [UInt8]) {
        data.withUnsafeBytes { mixHash($0) }
    }

    /// `MixKey(ikm)`: `ck, k = HKDF(ck, ikm, 2)`; the nonce starts again at 0.
    package mutating func mixKey(_ ikm: UnsafeRawBufferPointer) {
        let (ck, k, _) = Self.hkdf(chainingKey: chainingKey, ikm: ikm, outputs: 2)
        chainingKey = ck
        cipher = NoiseCipherState(key: k)
    }

    /// `MixKeyAndHash(ikm)`: `ck, temp_h, k = HKDF(ck, ikm, 3)`; `MixHash(temp_h)`; the nonce starts
    /// again at 0. Noise's psk token calls this with the pre-shared key.
    package mutating func mixKeyAndHash(_ ikm: UnsafeRawBufferPointer) {
        let (ck, tempH, k) = Self.hkdf(chainingKey: chainingKey, ikm: ikm, outputs: 3)
        chainingKey = ck
        tempH.withUnsafeBytes { mixHash($0) }
        if let k {
            cipher = NoiseCipherState(key: k)
        }
    }

    /// `EncryptAndHash(plaintext)`: `c = EncryptWithAd(h, plaintext)`; `MixHash(c)`; returns `c`.
    package mutating func encryptAndHash(_ plaintext: [UInt8]) throws -> [UInt8] {
        let sealed = try cipher.encryptWithAd(handshakeHash, plaintext)
        mixHash(sealed)
        return sealed
    }

    /// `DecryptAndHash(ciphertext)`: `p = DecryptWithAd(h, ciphertext)`; `MixHash(ciphertext)`;
    /// returns `p`.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/authenticationFailed`` when the tag does not
    ///   verify (`h` is then unchanged).
    package mutating func decryptAndHash(_ ciphertext: [UInt8]) throws -> [UInt8] {
        let plaintext: [UInt8]
        do {
            plaintext = try cipher.decryptWithAd(handshakeHash, ciphertext)
        } catch let error as PaddingtonError where error.code == .decryptionFailed {
            throw PaddingtonError(.authenticationFailed, "handshake tag did not verify", cause: error)
        }
        mixHash(ciphertext)
        return plaintext
    }

    /// `Split()`: `k1, k2 = HKDF(ck, empty, 2)`. The first key is for messages from the initiator
    /// to the responder, the second for the other direction. The chaining key is dropped (zeroed).
    package consuming func split() -> (initiatorToResponder: SecretKey, responderToInitiator: SecretKey) {
        let (k1, k2, _) = Self.hkdf(chainingKey: chainingKey, ikm: UnsafeRawBufferPointer(start: nil, count: 0), outputs: 2)
        return (k1, k2)
    }

    // MARK: HKDF

    /// Noise's `HKDF(chaining_key, input_key_material, num_outputs)` with HMAC-SHA256:
    /// `temp = HMAC(ck, ikm)`, `o1 = HMAC(temp, 0x01)`, `o2 = HMAC(temp, o1 ‖ 0x02)`,
    /// `o3 = HMAC(temp, o2 ‖ 0x03)`. Every intermediate is zeroed; the third output is nil for 2.
    package static func hkdf(
        chainingKey: SecretKey,
        ikm: UnsafeRawBufferPointer,
        outputs: Int
    ) -> (SecretKey, SecretKey, SecretKey?) {
        precondition(outputs == 2 || outputs == 3, "Noise's HKDF makes two or three outputs")
        return withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { temp in
            defer { Sodium.memzero(temp) }
            chainingKey.withUnsafeBytes { ck in
                Sodium.hmacSHA256(key: ck, ikm, output: temp.baseAddress!)
            }
            let tempKey = UnsafeRawBufferPointer(temp)
            let first = SecretKey { out in
                withUnsafeBytes(of: UInt8(1)) { Sodium.hmacSHA256(key: tempKey, $0, output: out.baseAddress!) }
            }
            func next(after previous: SecretKey, counter: UInt8) -> SecretKey {
                previous.withUnsafeBytes { previous in
                    SecretKey { out in
                        withUnsafeBytes(of: counter) { Sodium.hmacSHA256(key: tempKey, previous, $0, output: out.baseAddress!) }
                    }
                }
            }
            let second = next(after: first, counter: 2)
            return (first, second, outputs == 3 ? next(after: second, counter: 3) : nil)
        }
    }
}

// MARK: - X25519 (Noise's DH functions for 25519)

extension NoiseSymmetricState {
    /// The X25519 public key of an ephemeral private key (`GENERATE_KEYPAIR`'s public half).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when the result is all zeros.
    package static func publicKey(of privateKey: SecretKey) throws -> [UInt8] {
        var publicKey = [UInt8](repeating: 0, count: 32)
        let ok = privateKey.withUnsafeBytes { scalar in
            publicKey.withUnsafeMutableBytes { Sodium.x25519PublicKey(privateKey: scalar.baseAddress!, output: $0.baseAddress!) }
        }
        guard ok else {
            throw PaddingtonError(.protocolViolation, "X25519 refused the ephemeral private key")
        }
        return publicKey
    }

    /// `MixKey(DH(privateKey, remote))`, the shared secret held in a temporary buffer that is zeroed.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when the shared secret is all
    ///   zeros: the peer's ephemeral key is a small-order point. `what` names the message for the error.
    package mutating func mixKey(dh privateKey: SecretKey, remote: [UInt8], what: String) throws {
        precondition(remote.count == 32)
        try withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { shared in
            defer { Sodium.memzero(shared) }
            let ok = privateKey.withUnsafeBytes { scalar in
                remote.withUnsafeBytes { point in
                    Sodium.x25519(privateKey: scalar.baseAddress!, publicKey: point.baseAddress!, output: shared.baseAddress!)
                }
            }
            guard ok else {
                throw PaddingtonError(
                    .protocolViolation,
                    "\(what) carries an ephemeral key of small order (the X25519 shared secret is all zeros)")
            }
            mixKey(UnsafeRawBufferPointer(shared))
        }
    }
}
