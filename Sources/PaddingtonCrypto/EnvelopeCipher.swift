import CSodium

/// The envelope for one link: its keys and salts never change, so the part of each frame's two
/// HKDF-SHA512 derivations that depends only on them is done once, here.
///
/// HKDF is `expand(extract(salt, key), info)`. Per link only `info` changes (32 fresh random bytes
/// per layer and frame), so ``init(keys:salts:)`` computes each layer's `PRK = HMAC(salt, key)` and
/// keeps HMAC-SHA512 initialised with it (the inner and outer SHA-512 states after their key blocks).
/// A frame's key is then a copy of that state, an update with `info ‖ 0x01` and a final: two SHA-512
/// blocks per layer instead of eight. Frames are byte for byte those of ``Envelope``.
///
/// The states are written once in `init` and only read afterwards; every call works on copies on the
/// stack, so one cipher may seal and open on several threads at once. They are zeroed when the last
/// copy of the cipher is released, and each frame's copies and derived keys when the frame is done.
///
/// ```swift
/// let cipher = EnvelopeCipher(keys: sessionKeys, salts: salts)      // once per link
/// let frame = cipher.seal(json: Array(#""hello""#.utf8))
/// let json = try cipher.open(frame)
/// ```
package struct EnvelopeCipher: Sendable {
    /// The two prepared HMAC states, inner layer then outer layer.
    final class Storage: @unchecked Sendable {
        // Written once in `init`, read-only afterwards, so sharing across threads is safe.
        let states: UnsafeMutablePointer<crypto_auth_hmacsha512_state>

        init(keys: EnvelopeKeys, salts: ConnectionSalts) {
            states = .allocate(capacity: 2)
            keys.inner.withUnsafeBytes { ikm in
                salts.inner.withUnsafeBytes { salt in Sodium.hkdfSHA512Prepare(ikm: ikm, salt: salt, into: states) }
            }
            keys.outer.withUnsafeBytes { ikm in
                salts.outer.withUnsafeBytes { salt in Sodium.hkdfSHA512Prepare(ikm: ikm, salt: salt, into: states + 1) }
            }
        }

        deinit {
            sodium_memzero(states, 2 * MemoryLayout<crypto_auth_hmacsha512_state>.size)
            states.deallocate()
        }
    }

    let storage: Storage

    /// Prepares the key schedule of a link: each layer's HKDF extract and the HMAC key setup with its PRK.
    package init(keys: EnvelopeKeys, salts: ConnectionSalts) {
        storage = Storage(keys: keys, salts: salts)
    }

    /// The frame length for `jsonCount` bytes of plaintext JSON: `4 · jsonCount + 372`.
    package static func frameCount(jsonCount: Int) -> Int { Envelope.frameCount(jsonCount: jsonCount) }

    // MARK: Sealing

    /// Seals `json` (not empty) into `output`, which must be exactly ``frameCount(jsonCount:)`` bytes,
    /// with fresh random infos and nonces. Allocates nothing.
    package func seal(json: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        withUnsafeTemporaryAllocation(byteCount: Envelope.randomByteCount, alignment: 16) { random in
            Sodium.randomBytes(random)
            Envelope.seal(json, schedule: self, random: UnsafeRawPointer(random.baseAddress!), into: output)
        }
    }

    /// Seals `json` (not empty) into a new frame.
    package func seal(json: [UInt8]) -> [UInt8] {
        let count = Self.frameCount(jsonCount: json.count)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            json.withUnsafeBytes { seal(json: $0, into: UnsafeMutableRawBufferPointer(buffer)) }
            initialised = count
        }
    }

    /// Seals with fixed infos and nonces, for reproducing test vectors.
    package func seal(json: [UInt8], randomness: Envelope.Randomness) -> [UInt8] {
        let count = Self.frameCount(jsonCount: json.count)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            json.withUnsafeBytes { json in
                randomness.bytes.withUnsafeBytes { random in
                    Envelope.seal(json, schedule: self, random: random.baseAddress!, into: UnsafeMutableRawBufferPointer(buffer))
                }
            }
            initialised = count
        }
    }

    // MARK: Opening

    /// Opens a frame and returns the JSON bytes it carries, with the errors of
    /// ``Envelope/open(_:keys:salts:)``.
    ///
    /// Besides the returned array it needs one scratch buffer of half the frame's length for the
    /// outer layer's bytes (the frame itself is read-only); `withUnsafeTemporaryAllocation` puts it on
    /// the stack when the runtime finds room there, on the heap otherwise (large frames).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` (too short, odd length, a byte
    ///   that is not ASCII hex, with its offset), ``PaddingtonError/Code-swift.struct/decryptionFailed``
    ///   (a tag that does not verify), or ``PaddingtonError/Code-swift.struct/invalidJSON`` (the outer
    ///   layer is not a JSON string).
    package func open(_ frame: UnsafeRawBufferPointer) throws -> [UInt8] {
        try Envelope.open(frame, schedule: self)
    }

    /// Convenience over ``open(_:)-(UnsafeRawBufferPointer)`` for arrays.
    package func open(_ frame: [UInt8]) throws -> [UInt8] {
        try frame.withUnsafeBytes { try open($0) }
    }
}

extension EnvelopeCipher: CustomStringConvertible, CustomDebugStringConvertible {
    /// Redacted: the kept states are key material.
    package var description: String { "EnvelopeCipher(<redacted>)" }
    package var debugDescription: String { description }
}

extension EnvelopeCipher: EnvelopeKeySchedule {
    func deriveInnerKey(info: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        Sodium.hkdfSHA512Expand(storage.states, info: info, output: output)
    }

    func deriveOuterKey(info: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        Sodium.hkdfSHA512Expand(storage.states + 1, info: info, output: output)
    }
}
