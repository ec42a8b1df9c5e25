import CSodium

/// Thin internal wrapper over the libsodium calls the wire format needs.
///
/// All pointers passed in must be valid for the stated lengths; the public types in this module
/// guarantee that before calling here.
package enum Sodium {
    /// `sodium_init` is idempotent and thread-safe; a lazily initialised static runs it once.
    private static let initialised: Bool = sodium_init() >= 0

    @inline(__always)
    static func ensureInitialised() {
        precondition(initialised, "libsodium could not be initialised (no system randomness source)")
    }

    package static let aeadNonceBytes = 24
    static let aeadTagBytes = 16
    /// nonce ‖ ciphertext ‖ tag, as orion lays it out.
    package static let aeadOverhead = 40

    package static func randomBytes(_ buffer: UnsafeMutableRawBufferPointer) {
        ensureInitialised()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        randombytes_buf(base, buffer.count)
    }

    /// Seals `plaintext` as `nonce ‖ ciphertext ‖ tag` into `output`, which must hold
    /// `plaintext.count + 40` bytes. The nonce is taken from `nonce` (24 bytes).
    package static func seal(
        key: UnsafeRawPointer,
        nonce: UnsafeRawPointer,
        plaintext: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer
    ) {
        ensureInitialised()
        precondition(output.count == plaintext.count + aeadOverhead)
        let out = output.baseAddress!
        out.copyMemory(from: nonce, byteCount: aeadNonceBytes)
        var written: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            (out + aeadNonceBytes).assumingMemoryBound(to: UInt8.self), &written,
            plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
            nil, 0, nil,
            nonce.assumingMemoryBound(to: UInt8.self),
            key.assumingMemoryBound(to: UInt8.self)
        )
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` into `output` (`sealed.count - 40` bytes). Returns false when
    /// the tag does not verify.
    package static func open(
        key: UnsafeRawPointer,
        sealed: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        ensureInitialised()
        guard sealed.count > aeadOverhead, output.count == sealed.count - aeadOverhead,
            let base = sealed.baseAddress
        else { return false }
        var written: UInt64 = 0
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
            output.baseAddress!.assumingMemoryBound(to: UInt8.self), &written, nil,
            (base + aeadNonceBytes).assumingMemoryBound(to: UInt8.self), UInt64(sealed.count - aeadNonceBytes),
            nil, 0,
            base.assumingMemoryBound(to: UInt8.self),
            key.assumingMemoryBound(to: UInt8.self)
        )
        return rc == 0
    }

    /// HKDF-SHA512 (RFC 5869) with a 32-byte output, built on libsodium's HMAC-SHA512
    /// (Debian's libsodium 1.0.18 predates `crypto_kdf_hkdf_sha512`).
    package static func hkdfSHA512(
        ikm: UnsafeRawBufferPointer,
        salt: UnsafeRawBufferPointer,
        info: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) {
        ensureInitialised()
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { scratch in
            let prk = scratch.baseAddress!
            let block = prk + 64
            var state = crypto_auth_hmacsha512_state()
            // Extract: PRK = HMAC(salt, IKM). An empty salt is HMAC with an empty key, which RFC 5869
            // defines as equal to a zero salt.
            var empty: UInt8 = 0
            if let saltBase = salt.baseAddress, salt.count > 0 {
                crypto_auth_hmacsha512_init(&state, saltBase.assumingMemoryBound(to: UInt8.self), salt.count)
            } else {
                crypto_auth_hmacsha512_init(&state, &empty, 0)
            }
            crypto_auth_hmacsha512_update(&state, ikm.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ikm.count))
            crypto_auth_hmacsha512_final(&state, prk)
            // Expand: T(1) = HMAC(PRK, info ‖ 0x01); 32 bytes fit in the first block.
            crypto_auth_hmacsha512_init(&state, prk, 64)
            crypto_auth_hmacsha512_update(&state, info.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(info.count))
            var counter: UInt8 = 1
            crypto_auth_hmacsha512_update(&state, &counter, 1)
            crypto_auth_hmacsha512_final(&state, block)
            output.copyMemory(from: block, byteCount: 32)
            sodium_memzero(prk, 128)
            withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
        }
    }

    /// Keyed BLAKE2b with a 32-byte digest (orion `auth`).
    static func blake2b256(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, output: UnsafeMutableRawPointer) {
        ensureInitialised()
        crypto_generichash(
            output.assumingMemoryBound(to: UInt8.self), 32,
            message.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(message.count),
            key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count
        )
    }

    /// Argon2i v1.3, t = 3, m = 8 KiB, one lane, 32-byte output. Returns false when libsodium refuses.
    static func argon2i(password: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, output: UnsafeMutableRawPointer) -> Bool {
        ensureInitialised()
        guard let passwordBase = password.baseAddress, let saltBase = salt.baseAddress, salt.count == 16 else {
            return false
        }
        let rc = crypto_pwhash(
            output.assumingMemoryBound(to: UInt8.self), 32,
            passwordBase.assumingMemoryBound(to: CChar.self), UInt64(password.count),
            saltBase.assumingMemoryBound(to: UInt8.self),
            3, 8192, crypto_pwhash_ALG_ARGON2I13
        )
        return rc == 0
    }

    static func memzero(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    static func constantTimeEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        sodium_memcmp(a, b, count) == 0
    }

    static func isZero(_ buffer: UnsafeRawBufferPointer) -> Bool {
        guard let base = buffer.baseAddress else { return true }
        return sodium_is_zero(base.assumingMemoryBound(to: UInt8.self), buffer.count) == 1
    }
}
