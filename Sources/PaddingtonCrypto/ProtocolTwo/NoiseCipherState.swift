/// Noise's `CipherState` for ChaChaPoly: a key `k` (or none yet) and a 64-bit nonce `n`.
///
/// The value cannot be copied (`~Copyable`): two copies of one key and nonce would seal two messages
/// under the same nonce. The key lives in a ``SecretKey``, so it is zeroed when the state is dropped
/// or rekeyed.
///
/// Nonce `2^64 − 1` is reserved (Noise §5.1): encrypting or decrypting with it throws, and
/// ``rekey()`` uses it to derive the next key. `n` is never reset, not even by a rekey.
package struct NoiseCipherState: ~Copyable, Sendable {
    /// The nonce Noise reserves for ``rekey()``; no message is ever sealed or opened with it.
    package static let reservedNonce: UInt64 = .max

    private var key: SecretKey?
    /// The nonce the next message will use.
    package private(set) var nonce: UInt64

    /// A state with no key (`InitializeKey(empty)`): encryption passes plaintext through.
    package init() {
        key = nil
        nonce = 0
    }

    /// A state with `key` and nonce `nonce` (Noise's `InitializeKey` then `SetNonce`).
    package init(key: SecretKey, nonce: UInt64 = 0) {
        self.key = key
        self.nonce = nonce
    }

    /// Whether a key is set (Noise's `HasKey`).
    package var hasKey: Bool { key != nil }

    /// Drops the key (its storage is zeroed when released); further use throws.
    package mutating func clear() {
        key = nil
    }

    // MARK: Buffers

    /// Seals `plaintext` with the next nonce into `output` (`plaintext.count + 16` bytes; it may be
    /// `plaintext` itself, sealed in place), then increments the nonce.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when the nonce is the reserved
    ///   `2^64 − 1` (nothing is written), ``PaddingtonError/Code-swift.struct/invalidArgument`` when no
    ///   key is set or `output` has the wrong size.
    package mutating func seal(
        ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws {
        guard let key else {
            throw PaddingtonError(.invalidArgument, "cannot seal: the cipher state has no key")
        }
        guard output.count == plaintext.count + Sodium.chachaTagBytes else {
            throw PaddingtonError(
                .invalidArgument,
                "the sealed output must be \(plaintext.count + Sodium.chachaTagBytes) bytes, got \(output.count)")
        }
        guard nonce < Self.reservedNonce else {
            throw PaddingtonError(
                .protocolViolation,
                "the sending key has used every nonce (2^64 − 1 is reserved); the link must close")
        }
        key.withUnsafeBytes { key in
            Sodium.chachaPolySeal(key: key.baseAddress!, counter: nonce, ad: ad, plaintext: plaintext, output: output)
        }
        nonce += 1
    }

    /// Opens `sealed` (ciphertext ‖ tag) with the next nonce into `output` (`sealed.count - 16`
    /// bytes; it may be `sealed` itself, opened in place), then increments the nonce.
    ///
    /// Returns false when the tag does not verify: the nonce is then unchanged, as Noise requires, and
    /// `output` holds zeros.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/protocolViolation`` when the nonce is the reserved
    ///   `2^64 − 1`, ``PaddingtonError/Code-swift.struct/invalidArgument`` when no key is set or a
    ///   buffer has the wrong size.
    package mutating func open(
        ad: UnsafeRawBufferPointer,
        sealed: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws -> Bool {
        guard let key else {
            throw PaddingtonError(.invalidArgument, "cannot open: the cipher state has no key")
        }
        guard sealed.count >= Sodium.chachaTagBytes, output.count == sealed.count - Sodium.chachaTagBytes else {
            throw PaddingtonError(
                .invalidArgument,
                "cannot open \(sealed.count) sealed bytes into \(output.count) bytes")
        }
        guard nonce < Self.reservedNonce else {
            throw PaddingtonError(
                .protocolViolation,
                "the receiving key has used every nonce (2^64 − 1 is reserved); the link must close")
        }
        let ok = key.withUnsafeBytes { key in
            Sodium.chachaPolyOpen(key: key.baseAddress!, counter: nonce, ad: ad, sealed: sealed, output: output)
        }
        if ok { nonce += 1 }
        return ok
    }

    // MARK: Noise's EncryptWithAd / DecryptWithAd

    /// Noise's `EncryptWithAd(ad, plaintext)`: with a key, `plaintext` sealed under the next nonce
    /// (16 bytes longer); without one, `plaintext` unchanged.
    package mutating func encryptWithAd(_ ad: [UInt8], _ plaintext: [UInt8]) throws -> [UInt8] {
        guard hasKey else { return plaintext }
        var output = [UInt8](repeating: 0, count: plaintext.count + Sodium.chachaTagBytes)
        try ad.withUnsafeBytes { ad in
            try plaintext.withUnsafeBytes { plaintext in
                try output.withUnsafeMutableBytes { try seal(ad: ad, plaintext: plaintext, into: $0) }
            }
        }
        return output
    }

    /// Noise's `DecryptWithAd(ad, ciphertext)`: with a key, the opened plaintext; without one,
    /// `ciphertext` unchanged.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/decryptionFailed`` when the tag does not verify
    ///   or `ciphertext` is shorter than a tag (the nonce is unchanged).
    package mutating func decryptWithAd(_ ad: [UInt8], _ ciphertext: [UInt8]) throws -> [UInt8] {
        guard hasKey else { return ciphertext }
        guard ciphertext.count >= Sodium.chachaTagBytes else {
            throw PaddingtonError(
                .decryptionFailed, "ciphertext is \(ciphertext.count) bytes, shorter than the 16-byte tag")
        }
        var output = [UInt8](repeating: 0, count: ciphertext.count - Sodium.chachaTagBytes)
        let ok = try ad.withUnsafeBytes { ad in
            try ciphertext.withUnsafeBytes { sealed in
                try output.withUnsafeMutableBytes { try open(ad: ad, sealed: sealed, into: $0) }
            }
        }
        guard ok else {
            throw PaddingtonError(.decryptionFailed, "tag did not verify under nonce \(nonce)")
        }
        return output
    }

    // MARK: Rekey

    /// Noise's `Rekey()`: `k = first 32 bytes of ENCRYPT(k, 2^64 − 1, empty, 32 zero bytes)`.
    /// The nonce is unchanged. Without a key it does nothing.
    package mutating func rekey() {
        guard let old = key else { return }
        key = withUnsafeTemporaryAllocation(byteCount: 48, alignment: 16) { scratch in
            defer { Sodium.memzero(scratch) }
            scratch.initializeMemory(as: UInt8.self, repeating: 0)
            old.withUnsafeBytes { k in
                Sodium.chachaPolySeal(
                    key: k.baseAddress!, counter: Self.reservedNonce,
                    ad: UnsafeRawBufferPointer(start: nil, count: 0),
                    plaintext: UnsafeRawBufferPointer(rebasing: scratch[0..<32]),
                    output: scratch)
            }
            return SecretKey { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: scratch[0..<32])) }
        }
    }
}
