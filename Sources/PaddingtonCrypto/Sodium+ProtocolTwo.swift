import CSodium

/// The libsodium calls protocol 2 needs: X25519, ChaCha20-Poly1305 (IETF), SHA-256 and HMAC-SHA256.
///
/// As in ``Sodium``, every pointer passed in must be valid for the stated length; the Noise and frame
/// types check lengths before they call here.
extension Sodium {
    /// The size of a ChaCha20-Poly1305 tag.
    package static let chachaTagBytes = 16

    // MARK: X25519

    /// The X25519 public key of `privateKey` (32 bytes each).
    ///
    /// Returns false only when the result is all zeros, which a clamped scalar cannot produce in practice.
    package static func x25519PublicKey(privateKey: UnsafeRawPointer, output: UnsafeMutableRawPointer) -> Bool {
        ensureInitialised()
        return crypto_scalarmult_curve25519_base(
            output.assumingMemoryBound(to: UInt8.self),
            privateKey.assumingMemoryBound(to: UInt8.self)
        ) == 0
    }

    /// X25519 of `privateKey` and `publicKey` (32 bytes each) into `output` (32 bytes).
    ///
    /// Returns false when the shared secret is all zeros (the peer's point has a small order); libsodium
    /// reports that as -1, and the caller must refuse the peer.
    package static func x25519(
        privateKey: UnsafeRawPointer,
        publicKey: UnsafeRawPointer,
        output: UnsafeMutableRawPointer
    ) -> Bool {
        ensureInitialised()
        return crypto_scalarmult_curve25519(
            output.assumingMemoryBound(to: UInt8.self),
            privateKey.assumingMemoryBound(to: UInt8.self),
            publicKey.assumingMemoryBound(to: UInt8.self)
        ) == 0
    }

    // MARK: ChaCha20-Poly1305 (IETF)

    /// Writes the 12-byte nonce of Noise's ChaChaPoly: four zero bytes, then `counter` little-endian.
    @inline(__always)
    private static func withNoiseNonce<R>(_ counter: UInt64, _ body: (UnsafePointer<UInt8>) -> R) -> R {
        // A tuple is laid out contiguously; the first word holds the four zero bytes.
        var nonce: (UInt32, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &nonce) { raw in
            raw.storeBytes(of: 0, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: counter.littleEndian, toByteOffset: 4, as: UInt64.self)
            return body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Seals `plaintext` as `ciphertext ‖ tag` into `output` (`plaintext.count + 16` bytes) under
    /// `key` (32 bytes) and the Noise nonce for `counter`, authenticating `ad`.
    ///
    /// `output` may start at `plaintext`'s address (in-place sealing); any other overlap is not allowed.
    /// libsodium 1.0.18 XORs the keystream block by block, reading each block before writing it, and
    /// authenticates the ciphertext after writing it, so exact aliasing is safe (libsodium's own
    /// `crypto_stream_chacha20_ietf` calls the same XOR with input equal to output).
    package static func chachaPolySeal(
        key: UnsafeRawPointer,
        counter: UInt64,
        ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer
    ) {
        ensureInitialised()
        precondition(output.count == plaintext.count + chachaTagBytes)
        let input = plaintext.baseAddress ?? UnsafeRawPointer(output.baseAddress!)
        precondition(
            input == UnsafeRawPointer(output.baseAddress!)
                || input + plaintext.count <= UnsafeRawPointer(output.baseAddress!)
                || UnsafeRawPointer(output.baseAddress! + output.count) <= input,
            "ChaCha20-Poly1305 output must be the input exactly or not overlap it"
        )
        withNoiseNonce(counter) { nonce in
            var written: UInt64 = 0
            _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                output.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
                input.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
                ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
                nil, nonce, key.assumingMemoryBound(to: UInt8.self)
            )
        }
    }

    /// Opens `ciphertext ‖ tag` into `output` (`sealed.count - 16` bytes). Returns false when the tag
    /// does not verify; libsodium then fills `output` with zeros.
    ///
    /// `output` may start at `sealed`'s address (in-place opening: the tag is checked over the
    /// ciphertext before anything is written, then the keystream is XORed block by block).
    package static func chachaPolyOpen(
        key: UnsafeRawPointer,
        counter: UInt64,
        ad: UnsafeRawBufferPointer,
        sealed: UnsafeRawBufferPointer,
        output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        ensureInitialised()
        guard sealed.count >= chachaTagBytes, output.count == sealed.count - chachaTagBytes,
            let input = sealed.baseAddress
        else { return false }
        if output.count > 0 {
            let out = UnsafeRawPointer(output.baseAddress!)
            precondition(
                input == out || input + sealed.count <= out || out + output.count <= input,
                "ChaCha20-Poly1305 output must be the input exactly or not overlap it"
            )
        }
        // An empty plaintext still needs a valid pointer for libsodium's length-0 writes.
        var scratch: UInt8 = 0
        return withUnsafeMutablePointer(to: &scratch) { empty in
            withNoiseNonce(counter) { nonce in
                var written: UInt64 = 0
                return crypto_aead_chacha20poly1305_ietf_decrypt(
                    output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? empty, &written, nil,
                    input.assumingMemoryBound(to: UInt8.self), UInt64(sealed.count),
                    ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
                    nonce, key.assumingMemoryBound(to: UInt8.self)
                ) == 0
            }
        }
    }

    // MARK: SHA-256 and HMAC-SHA256

    /// SHA-256 of `first ‖ second` into `output` (32 bytes). `output` may overlap either input: the
    /// digest is written only after both are read.
    package static func sha256(
        _ first: UnsafeRawBufferPointer,
        _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        output: UnsafeMutableRawPointer
    ) {
        ensureInitialised()
        var state = crypto_hash_sha256_state()
        crypto_hash_sha256_init(&state)
        crypto_hash_sha256_update(&state, first.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(first.count))
        crypto_hash_sha256_update(&state, second.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(second.count))
        crypto_hash_sha256_final(&state, output.assumingMemoryBound(to: UInt8.self))
    }

    /// HMAC-SHA256 with a key of any length over `first ‖ second`, into `output` (32 bytes).
    ///
    /// `output` may overlap the inputs (it is written last). The HMAC state, which holds key-derived
    /// pads, is zeroed before returning.
    package static func hmacSHA256(
        key: UnsafeRawBufferPointer,
        _ first: UnsafeRawBufferPointer,
        _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        output: UnsafeMutableRawPointer
    ) {
        ensureInitialised()
        var state = crypto_auth_hmacsha256_state()
        var empty: UInt8 = 0
        if let keyBase = key.baseAddress, key.count > 0 {
            crypto_auth_hmacsha256_init(&state, keyBase.assumingMemoryBound(to: UInt8.self), key.count)
        } else {
            crypto_auth_hmacsha256_init(&state, &empty, 0)
        }
        crypto_auth_hmacsha256_update(&state, first.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(first.count))
        crypto_auth_hmacsha256_update(&state, second.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(second.count))
        crypto_auth_hmacsha256_final(&state, output.assumingMemoryBound(to: UInt8.self))
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
    }
}
