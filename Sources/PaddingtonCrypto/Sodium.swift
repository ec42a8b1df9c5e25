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
    /// the tag does not verify. `output` may start exactly at the ciphertext (`sealed.baseAddress + 24`),
    /// which decrypts in place; no other overlap is allowed.
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

    /// Opens a detached ciphertext in place: `ciphertext` is replaced by its plaintext when `tag`
    /// verifies. Returns false (and libsodium zeroes `ciphertext`) when it does not.
    static func openDetached(
        key: UnsafeRawPointer,
        nonce: UnsafeRawPointer,
        ciphertext: UnsafeMutableRawBufferPointer,
        tag: UnsafeRawPointer
    ) -> Bool {
        ensureInitialised()
        guard let base = ciphertext.baseAddress, ciphertext.count > 0 else { return false }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            bytes, nil, bytes, UInt64(ciphertext.count),
            tag.assumingMemoryBound(to: UInt8.self),
            nil, 0,
            nonce.assumingMemoryBound(to: UInt8.self),
            key.assumingMemoryBound(to: UInt8.self)
        )
        return rc == 0
    }

    /// HKDF-SHA512 (RFC 5869) with a 32-byte output, built on libsodium's HMAC-SHA512
    /// (Debian's libsodium 1.0.18 predates `crypto_kdf_hkdf_sha512`): ``hkdfSHA512Prepare(ikm:salt:into:)``
    /// then ``hkdfSHA512Expand(_:info:output:)``.
    package static func hkdfSHA512(
        ikm: UnsafeRawBufferPointer,
        salt: UnsafeRawBufferPointer,
        info: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: crypto_auth_hmacsha512_state.self, capacity: 1) { prepared in
            let state = prepared.baseAddress!
            hkdfSHA512Prepare(ikm: ikm, salt: salt, into: state)
            hkdfSHA512Expand(state, info: info, output: output)
            sodium_memzero(state, MemoryLayout<crypto_auth_hmacsha512_state>.size)
        }
    }

    /// The part of HKDF-SHA512 that depends only on the key and the salt: the extract step,
    /// `PRK = HMAC(salt, IKM)`, then HMAC-SHA512 initialised with `PRK` as its key. The result is the
    /// inner and outer SHA-512 states after their key blocks; ``hkdfSHA512Expand(_:info:output:)``
    /// finishes a derivation from a copy of it. `state` holds key material: zero it when done.
    static func hkdfSHA512Prepare(
        ikm: UnsafeRawBufferPointer,
        salt: UnsafeRawBufferPointer,
        into state: UnsafeMutablePointer<crypto_auth_hmacsha512_state>
    ) {
        ensureInitialised()
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { scratch in
            let prk = scratch.baseAddress!
            // Extract. An empty salt is HMAC with an empty key, which RFC 5869 defines as equal to a
            // zero salt.
            var empty: UInt8 = 0
            if let saltBase = salt.baseAddress, salt.count > 0 {
                crypto_auth_hmacsha512_init(state, saltBase.assumingMemoryBound(to: UInt8.self), salt.count)
            } else {
                crypto_auth_hmacsha512_init(state, &empty, 0)
            }
            crypto_auth_hmacsha512_update(state, ikm.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ikm.count))
            crypto_auth_hmacsha512_final(state, prk)
            crypto_auth_hmacsha512_init(state, prk, 64)
            sodium_memzero(prk, 64)
        }
    }

    /// The expand step for a 32-byte output, `T(1) = HMAC(PRK, info ‖ 0x01)`, from a state made by
    /// ``hkdfSHA512Prepare(ikm:salt:into:)``, which is only read: the work is done on a copy on the
    /// stack, zeroed afterwards with the full HMAC output, so one state may serve several threads.
    static func hkdfSHA512Expand(
        _ prepared: UnsafePointer<crypto_auth_hmacsha512_state>,
        info: UnsafeRawBufferPointer,
        output: UnsafeMutableRawPointer
    ) {
        withUnsafeTemporaryAllocation(of: crypto_auth_hmacsha512_state.self, capacity: 1) { copy in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { block in
                let state = copy.baseAddress!
                state.initialize(to: prepared.pointee)
                crypto_auth_hmacsha512_update(state, info.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(info.count))
                var counter: UInt8 = 1
                crypto_auth_hmacsha512_update(state, &counter, 1)
                crypto_auth_hmacsha512_final(state, block.baseAddress!)
                output.copyMemory(from: block.baseAddress!, byteCount: 32)
                sodium_memzero(block.baseAddress!, 64)
                sodium_memzero(state, MemoryLayout<crypto_auth_hmacsha512_state>.size)
            }
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
