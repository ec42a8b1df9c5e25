/// The two-layer envelope that carries every frame of the protocol (paddington `connection.rs`).
///
/// For keys `(Kin, Kout)`, connection salts `(Sin, Sout)` and fresh 32-byte infos `(Iin, Iout)`:
/// ```
/// kin   = HKDF-SHA512(Kin,  salt: Sin,  info: Iin)
/// kout  = HKDF-SHA512(Kout, salt: Sout, info: Iout)
/// inner = hex(N1 ‖ XChaCha20-Poly1305(kin,  N1, json))
/// outer = hex(N2 ‖ XChaCha20-Poly1305(kout, N2, "\"" ‖ inner ‖ "\""))
/// frame = hex(Iin) ‖ hex(Iout) ‖ outer
/// ```
/// A frame for `j` bytes of JSON is exactly `4·j + 372` ASCII characters.
///
/// ``open(_:keys:salts:)`` validates before it touches anything: the length, then every character
/// as ASCII hex, reporting the offset of the first bad one. No input can make it crash.
public enum Envelope {
    /// Characters taken by the two hex infos at the front of a frame.
    public static let infoHexCount = 128
    /// The smallest frame that could open: two infos and an outer layer of nonce, one byte and tag.
    public static let minimumFrameCount = infoHexCount + 2 * (Sodium.aeadOverhead + 1)

    /// The frame length for `jsonCount` bytes of plaintext JSON.
    public static func frameCount(jsonCount: Int) -> Int { 4 * jsonCount + 372 }

    /// The random values one envelope consumes, in the order they are drawn.
    package struct Randomness: Sendable {
        var bytes: [UInt8]

        /// Fixed values, for reproducing test vectors.
        package init(infoInner: [UInt8], infoOuter: [UInt8], nonceInner: [UInt8], nonceOuter: [UInt8]) {
            precondition(infoInner.count == 32 && infoOuter.count == 32 && nonceInner.count == 24 && nonceOuter.count == 24)
            bytes = infoInner + infoOuter + nonceInner + nonceOuter
        }

        init(system: Void) {
            bytes = [UInt8](repeating: 0, count: 112)
            bytes.withUnsafeMutableBytes { Sodium.randomBytes($0) }
        }
    }

    // MARK: Sealing

    /// Seals `json` into a new frame.
    public static func seal(_ json: [UInt8], keys: EnvelopeKeys, salts: ConnectionSalts) -> [UInt8] {
        seal(json, keys: keys, salts: salts, randomness: Randomness(system: ()))
    }

    package static func seal(_ json: [UInt8], keys: EnvelopeKeys, salts: ConnectionSalts, randomness: Randomness) -> [UInt8] {
        let count = frameCount(jsonCount: json.count)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            json.withUnsafeBytes { json in
                seal(json, keys: keys, salts: salts, randomness: randomness, into: UnsafeMutableRawBufferPointer(buffer))
            }
            initialised = count
        }
    }

    /// Seals `json` into `output`, which must be exactly ``frameCount(jsonCount:)`` bytes.
    /// Lets a transport write a frame straight into its own buffer with no intermediate copy.
    public static func seal(
        _ json: UnsafeRawBufferPointer,
        keys: EnvelopeKeys,
        salts: ConnectionSalts,
        into output: UnsafeMutableRawBufferPointer
    ) {
        seal(json, keys: keys, salts: salts, randomness: Randomness(system: ()), into: output)
    }

    package static func seal(
        _ json: UnsafeRawBufferPointer,
        keys: EnvelopeKeys,
        salts: ConnectionSalts,
        randomness: Randomness,
        into output: UnsafeMutableRawBufferPointer
    ) {
        let j = json.count
        precondition(j > 0, "the envelope never carries an empty plaintext")
        precondition(output.count == frameCount(jsonCount: j))
        let innerSealed = j + Sodium.aeadOverhead  // N1 ‖ ct ‖ tag
        let outerPlain = 2 * innerSealed + 2  // "hex(inner)"
        let outerSealed = outerPlain + Sodium.aeadOverhead
        let out = output.baseAddress!

        randomness.bytes.withUnsafeBytes { random in
            let infos = UnsafeRawBufferPointer(rebasing: random[0..<64])
            let nonceInner = random.baseAddress! + 64
            let nonceOuter = random.baseAddress! + 88
            Hex.encode(infos, into: UnsafeMutableRawBufferPointer(start: out, count: infoHexCount))

            withDerivedKeys(keys: keys, salts: salts, infos: infos) { kin, kout in
                // The outer plaintext is built at out[128...]; the inner sealed bytes go in the upper
                // half of its hex region and are expanded in place.
                let plain = out + infoHexCount
                let innerRegion = plain + 1 + innerSealed
                Sodium.seal(
                    key: kin, nonce: nonceInner, plaintext: json,
                    output: UnsafeMutableRawBufferPointer(start: innerRegion, count: innerSealed))
                Hex.encode(
                    UnsafeRawBufferPointer(start: innerRegion, count: innerSealed),
                    into: UnsafeMutableRawBufferPointer(start: plain + 1, count: 2 * innerSealed))
                plain.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
                (plain + outerPlain - 1).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)

                // The outer sealed bytes go in the upper half of the frame's hex region, clear of
                // the outer plaintext, and are expanded in place over it.
                let outerRegion = out + infoHexCount + outerSealed
                Sodium.seal(
                    key: kout, nonce: nonceOuter,
                    plaintext: UnsafeRawBufferPointer(start: plain, count: outerPlain),
                    output: UnsafeMutableRawBufferPointer(start: outerRegion, count: outerSealed))
                Hex.encode(
                    UnsafeRawBufferPointer(start: outerRegion, count: outerSealed),
                    into: UnsafeMutableRawBufferPointer(start: out + infoHexCount, count: 2 * outerSealed))
            }
        }
    }

    // MARK: Opening

    /// Opens a frame and returns the JSON bytes it carries.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` (too short, odd length, a byte
    ///   that is not ASCII hex, with its offset), ``PaddingtonError/Code-swift.struct/decryptionFailed``
    ///   (a tag that does not verify), or ``PaddingtonError/Code-swift.struct/invalidJSON`` (the outer
    ///   layer is not a JSON string).
    public static func open(_ frame: UnsafeRawBufferPointer, keys: EnvelopeKeys, salts: ConnectionSalts) throws -> [UInt8] {
        let n = frame.count
        guard n >= minimumFrameCount else {
            throw PaddingtonError(.malformedFrame, "frame is \(n) bytes, the minimum is \(minimumFrameCount)")
        }
        guard n % 2 == 0 else {
            throw PaddingtonError(.malformedFrame, "frame has an odd length (\(n) bytes)")
        }
        let outerSealed = (n - infoHexCount) / 2
        let outerPlain = outerSealed - Sodium.aeadOverhead

        return try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { infos in
            if let bad = Hex.decode(UnsafeRawBufferPointer(rebasing: frame[0..<infoHexCount]), into: infos) {
                throw nonHex(at: bad, in: frame)
            }
            // One scratch buffer: sealed outer bytes, then the outer plaintext. Every byte is written
            // before it is read, so it need not be zeroed.
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: outerSealed + outerPlain, alignment: 16)
            defer { scratch.deallocate() }
            return try {
                let sealed = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<outerSealed])
                let plain = UnsafeMutableRawBufferPointer(rebasing: scratch[outerSealed...])
                if let bad = Hex.decode(UnsafeRawBufferPointer(rebasing: frame[infoHexCount...]), into: sealed) {
                    throw nonHex(at: infoHexCount + bad, in: frame)
                }
                // The outer key first: a frame under other keys (trial decryption on the server tries
                // every candidate) fails after one HKDF, not two.
                let outerOK = withDerivedKey(keys.outer, salt: salts.outer, info: UnsafeRawBufferPointer(rebasing: infos[32..<64])) { kout in
                    Sodium.open(key: kout, sealed: UnsafeRawBufferPointer(sealed), output: plain)
                }
                guard outerOK else {
                    throw PaddingtonError(.decryptionFailed, "outer layer did not verify (wrong keys, wrong salts or tampered frame)")
                }
                return try withDerivedKey(keys.inner, salt: salts.inner, info: UnsafeRawBufferPointer(rebasing: infos[0..<32])) { kin in
                    try openInner(UnsafeRawBufferPointer(plain), key: kin, scratch: sealed)
                }
            }()
        }
    }

    /// Convenience over ``open(_:keys:salts:)`` for arrays.
    public static func open(_ frame: [UInt8], keys: EnvelopeKeys, salts: ConnectionSalts) throws -> [UInt8] {
        try frame.withUnsafeBytes { try open($0, keys: keys, salts: salts) }
    }

    /// The outer plaintext is the JSON string of the inner hex. Normally it is `"hex"`; any other
    /// valid JSON string encoding of it is accepted too, as serde_json would.
    private static func openInner(
        _ outerPlain: UnsafeRawBufferPointer,
        key: UnsafeRawPointer,
        scratch: UnsafeMutableRawBufferPointer
    ) throws -> [UInt8] {
        // Fast path: `"` + hex + `"`. The hex decoder validates every character of the body, which
        // also proves there is no escape in it.
        let count = outerPlain.count
        if count >= 2, outerPlain[0] == 0x22, outerPlain[count - 1] == 0x22 {
            let body = UnsafeRawBufferPointer(rebasing: outerPlain[1..<(count - 1)])
            if body.count % 2 == 0, body.count / 2 > Sodium.aeadOverhead,
                Hex.decode(body, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<(body.count / 2)])) == nil
            {
                return try openInnerSealed(UnsafeRawBufferPointer(rebasing: scratch[0..<(body.count / 2)]), key: key)
            }
        }
        var text = try JSONString.decode(outerPlain)
        return try text.withUTF8 { hex in
            try openInnerHex(UnsafeRawBufferPointer(hex), key: key, scratch: scratch)
        }
    }

    private static func openInnerHex(
        _ hex: UnsafeRawBufferPointer,
        key: UnsafeRawPointer,
        scratch: UnsafeMutableRawBufferPointer
    ) throws -> [UInt8] {
        guard hex.count % 2 == 0 else {
            throw PaddingtonError(.malformedFrame, "inner layer has an odd number of hex characters (\(hex.count))")
        }
        let innerSealed = hex.count / 2
        guard innerSealed > Sodium.aeadOverhead else {
            throw PaddingtonError(.malformedFrame, "inner layer is \(innerSealed) bytes, more than 40 are needed")
        }
        // The inner hex is shorter than the sealed outer bytes, so the scratch has room.
        let sealed = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<innerSealed])
        if let bad = Hex.decode(hex, into: sealed) {
            throw PaddingtonError(.malformedFrame, "inner layer has a non-hex character at offset \(bad)")
        }
        return try openInnerSealed(UnsafeRawBufferPointer(sealed), key: key)
    }

    private static func openInnerSealed(_ sealed: UnsafeRawBufferPointer, key: UnsafeRawPointer) throws -> [UInt8] {
        let count = sealed.count - Sodium.aeadOverhead
        var ok = false
        let json = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            ok = Sodium.open(key: key, sealed: sealed, output: UnsafeMutableRawBufferPointer(buffer))
            initialised = count
        }
        guard ok else {
            throw PaddingtonError(.decryptionFailed, "inner layer did not verify (wrong keys or tampered frame)")
        }
        return json
    }

    private static func nonHex(at offset: Int, in frame: UnsafeRawBufferPointer) -> PaddingtonError {
        let byte = frame[offset]
        let what = byte < 0x80 ? "non-hex character" : "non-ASCII byte 0x\(String(byte, radix: 16))"
        return PaddingtonError(.malformedFrame, "frame has a \(what) at offset \(offset)")
    }

    /// Derives one layer's key for one frame into a temporary buffer that is zeroed afterwards.
    private static func withDerivedKey<R>(
        _ key: SecretKey,
        salt: [UInt8],
        info: UnsafeRawBufferPointer,
        _ body: (UnsafeRawPointer) throws -> R
    ) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { derived in
            defer { Sodium.memzero(derived) }
            key.withUnsafeBytes { ikm in
                salt.withUnsafeBytes { salt in
                    Sodium.hkdfSHA512(ikm: ikm, salt: salt, info: info, output: derived.baseAddress!)
                }
            }
            return try body(UnsafeRawPointer(derived.baseAddress!))
        }
    }

    /// Derives `kin` and `kout` for one frame into a temporary buffer that is zeroed afterwards.
    private static func withDerivedKeys<R>(
        keys: EnvelopeKeys,
        salts: ConnectionSalts,
        infos: UnsafeRawBufferPointer,
        _ body: (UnsafeRawPointer, UnsafeRawPointer) throws -> R
    ) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { derived in
            defer { Sodium.memzero(derived) }
            let base = derived.baseAddress!
            keys.inner.withUnsafeBytes { ikm in
                salts.inner.withUnsafeBytes { salt in
                    Sodium.hkdfSHA512(ikm: ikm, salt: salt, info: UnsafeRawBufferPointer(rebasing: infos[0..<32]), output: base)
                }
            }
            keys.outer.withUnsafeBytes { ikm in
                salts.outer.withUnsafeBytes { salt in
                    Sodium.hkdfSHA512(ikm: ikm, salt: salt, info: UnsafeRawBufferPointer(rebasing: infos[32..<64]), output: base + 32)
                }
            }
            return try body(UnsafeRawPointer(base), UnsafeRawPointer(base + 32))
        }
    }
}
