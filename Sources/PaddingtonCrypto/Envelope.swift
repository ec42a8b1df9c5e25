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
///
/// The static calls derive both keys from scratch for every frame, which suits the handshake (its
/// keys change at every step). A link whose keys and salts are fixed should make one
/// ``EnvelopeCipher`` and use it for every frame: the same code, with the HKDF extract done once.
package enum Envelope {
    /// Characters taken by the two hex infos at the front of a frame.
    package static let infoHexCount = 128
    /// The smallest frame that could open: two infos and an outer layer of nonce, one byte and tag.
    package static let minimumFrameCount = infoHexCount + 2 * (Sodium.aeadOverhead + 1)
    /// Random bytes one frame consumes: two infos and two nonces.
    static let randomByteCount = 112

    /// The frame length for `jsonCount` bytes of plaintext JSON.
    package static func frameCount(jsonCount: Int) -> Int { 4 * jsonCount + 372 }

    /// The random values one envelope consumes, in the order they are drawn.
    package struct Randomness: Sendable {
        var bytes: [UInt8]

        /// Fixed values, for reproducing test vectors.
        package init(infoInner: [UInt8], infoOuter: [UInt8], nonceInner: [UInt8], nonceOuter: [UInt8]) {
            precondition(infoInner.count == 32 && infoOuter.count == 32 && nonceInner.count == 24 && nonceOuter.count == 24)
            bytes = infoInner + infoOuter + nonceInner + nonceOuter
        }
    }

    // MARK: Sealing

    /// Seals `json` (not empty) into a new frame.
    package static func seal(_ json: [UInt8], keys: EnvelopeKeys, salts: ConnectionSalts) -> [UInt8] {
        let count = frameCount(jsonCount: json.count)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            json.withUnsafeBytes { json in
                seal(json, keys: keys, salts: salts, into: UnsafeMutableRawBufferPointer(buffer))
            }
            initialised = count
        }
    }

    /// Seals with fixed infos and nonces, for reproducing test vectors.
    package static func seal(_ json: [UInt8], keys: EnvelopeKeys, salts: ConnectionSalts, randomness: Randomness) -> [UInt8] {
        let count = frameCount(jsonCount: json.count)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            json.withUnsafeBytes { json in
                randomness.bytes.withUnsafeBytes { random in
                    seal(json, schedule: PerFrameKeySchedule(keys: keys, salts: salts), random: random.baseAddress!,
                         into: UnsafeMutableRawBufferPointer(buffer))
                }
            }
            initialised = count
        }
    }

    /// Seals `json` (not empty) into `output`, which must be exactly ``frameCount(jsonCount:)`` bytes.
    /// Lets a transport write a frame straight into its own buffer with no intermediate copy.
    package static func seal(
        _ json: UnsafeRawBufferPointer,
        keys: EnvelopeKeys,
        salts: ConnectionSalts,
        into output: UnsafeMutableRawBufferPointer
    ) {
        withUnsafeTemporaryAllocation(byteCount: randomByteCount, alignment: 16) { random in
            Sodium.randomBytes(random)
            seal(json, schedule: PerFrameKeySchedule(keys: keys, salts: salts), random: UnsafeRawPointer(random.baseAddress!), into: output)
        }
    }

    /// The one implementation of sealing. `random` holds ``randomByteCount`` bytes: the inner and outer
    /// infos, then the inner and outer nonces.
    static func seal<Schedule: EnvelopeKeySchedule>(
        _ json: UnsafeRawBufferPointer,
        schedule: Schedule,
        random: UnsafeRawPointer,
        into output: UnsafeMutableRawBufferPointer
    ) {
        let j = json.count
        precondition(j > 0, "the envelope never carries an empty plaintext")
        precondition(output.count == frameCount(jsonCount: j))
        let innerSealed = j + Sodium.aeadOverhead  // N1 ‖ ct ‖ tag
        let outerPlain = 2 * innerSealed + 2  // "hex(inner)"
        let outerSealed = outerPlain + Sodium.aeadOverhead
        let out = output.baseAddress!
        let infos = UnsafeRawBufferPointer(start: random, count: 64)
        let nonceInner = random + 64
        let nonceOuter = random + 88
        Hex.encode(infos, into: UnsafeMutableRawBufferPointer(start: out, count: infoHexCount))

        withLayerKeys(schedule, infos: infos) { kin, kout in
            // The outer plaintext is built at out[128...]; the inner sealed bytes go in the upper
            // half of its hex region and are expanded in place.
            let plain = out + infoHexCount
            let innerRegion = plain + 1 + innerSealed
            Sodium.seal(
                key: kin, nonce: nonceInner, plaintext: json,
                output: UnsafeMutableRawBufferPointer(start: innerRegion, count: innerSealed))
            HexCodec.selected.encode(
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
            HexCodec.selected.encode(
                UnsafeRawBufferPointer(start: outerRegion, count: outerSealed),
                into: UnsafeMutableRawBufferPointer(start: out + infoHexCount, count: 2 * outerSealed))
        }
    }

    // MARK: Opening

    /// Opens a frame and returns the JSON bytes it carries.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` (too short, odd length, a byte
    ///   that is not ASCII hex, with its offset), ``PaddingtonError/Code-swift.struct/decryptionFailed``
    ///   (a tag that does not verify), or ``PaddingtonError/Code-swift.struct/invalidJSON`` (the outer
    ///   layer is not a JSON string).
    package static func open(_ frame: UnsafeRawBufferPointer, keys: EnvelopeKeys, salts: ConnectionSalts) throws -> [UInt8] {
        try open(frame, schedule: PerFrameKeySchedule(keys: keys, salts: salts))
    }

    /// Convenience over ``open(_:keys:salts:)-(UnsafeRawBufferPointer,_,_)`` for arrays.
    package static func open(_ frame: [UInt8], keys: EnvelopeKeys, salts: ConnectionSalts) throws -> [UInt8] {
        try frame.withUnsafeBytes { try open($0, keys: keys, salts: salts) }
    }

    /// The one implementation of opening.
    static func open<Schedule: EnvelopeKeySchedule>(_ frame: UnsafeRawBufferPointer, schedule: Schedule) throws -> [UInt8] {
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
            // One scratch buffer for the outer layer's bytes, N2 ‖ ciphertext ‖ tag, decrypted in
            // place. Every byte is written before it is read, so it need not be zeroed.
            return try withUnsafeTemporaryAllocation(byteCount: outerSealed, alignment: 16) { sealed in
                if let bad = HexCodec.selected.decode(UnsafeRawBufferPointer(rebasing: frame[infoHexCount...]), into: sealed) {
                    throw nonHex(at: infoHexCount + bad, in: frame)
                }
                let plain = UnsafeMutableRawBufferPointer(
                    rebasing: sealed[Sodium.aeadNonceBytes..<(Sodium.aeadNonceBytes + outerPlain)])
                // The outer key first: a frame under other keys (trial decryption on the server tries
                // every candidate) fails after one derivation, not two.
                let outerOK = withLayerKey { kout in
                    schedule.deriveOuterKey(info: UnsafeRawBufferPointer(rebasing: infos[32..<64]), into: kout)
                    return Sodium.open(key: kout, sealed: UnsafeRawBufferPointer(sealed), output: plain)
                }
                guard outerOK else {
                    throw PaddingtonError(.decryptionFailed, "outer layer did not verify (wrong keys, wrong salts or tampered frame)")
                }
                return try withLayerKey { kin in
                    schedule.deriveInnerKey(info: UnsafeRawBufferPointer(rebasing: infos[0..<32]), into: kin)
                    return try openInner(UnsafeRawBufferPointer(plain), key: kin, scratch: sealed)
                }
            }
        }
    }

    /// The outer plaintext is the JSON string of the inner hex. Normally it is `"hex"`; any other
    /// valid JSON string encoding of it is accepted too, as serde_json would. `scratch` holds at least
    /// half as many bytes as `outerPlain` and may overlap it.
    private static func openInner(
        _ outerPlain: UnsafeRawBufferPointer,
        key: UnsafeRawPointer,
        scratch: UnsafeMutableRawBufferPointer
    ) throws -> [UInt8] {
        // Fast path: `"` + hex + `"`, decoded straight into the returned array (nonce and tag to the
        // stack) and decrypted there in place. The hex decoders validate every character of the body,
        // which also proves there is no escape in it; if one is not hex, the general path decides.
        let count = outerPlain.count
        if count >= 2, outerPlain[0] == 0x22, outerPlain[count - 1] == 0x22, (count - 2) % 2 == 0,
            (count - 2) / 2 > Sodium.aeadOverhead
        {
            let body = UnsafeRawBufferPointer(rebasing: outerPlain[1..<(count - 1)])
            let nonceHex = 2 * Sodium.aeadNonceBytes
            let jsonCount = body.count / 2 - Sodium.aeadOverhead
            var isHex = true
            let json = try [UInt8](unsafeUninitializedCapacity: jsonCount) { buffer, initialised in
                let ciphertext = UnsafeMutableRawBufferPointer(buffer)
                try withUnsafeTemporaryAllocation(byteCount: Sodium.aeadOverhead, alignment: 16) { nonceAndTag in
                    let nonce = UnsafeMutableRawBufferPointer(rebasing: nonceAndTag[0..<Sodium.aeadNonceBytes])
                    let tag = UnsafeMutableRawBufferPointer(rebasing: nonceAndTag[Sodium.aeadNonceBytes...])
                    guard Hex.decode(UnsafeRawBufferPointer(rebasing: body[0..<nonceHex]), into: nonce) == nil,
                        HexCodec.selected.decode(
                            UnsafeRawBufferPointer(rebasing: body[nonceHex..<(nonceHex + 2 * jsonCount)]), into: ciphertext) == nil,
                        Hex.decode(UnsafeRawBufferPointer(rebasing: body[(nonceHex + 2 * jsonCount)...]), into: tag) == nil
                    else {
                        isHex = false
                        return
                    }
                    guard Sodium.openDetached(key: key, nonce: nonce.baseAddress!, ciphertext: ciphertext, tag: tag.baseAddress!) else {
                        throw innerDidNotVerify
                    }
                    initialised = jsonCount
                }
            }
            if isHex { return json }
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
        // The decoded JSON string is no longer than the outer plaintext, so the scratch has room.
        let sealed = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<innerSealed])
        if let bad = Hex.decode(hex, into: sealed) {
            throw PaddingtonError(.malformedFrame, "inner layer has a non-hex character at offset \(bad)")
        }
        let count = innerSealed - Sodium.aeadOverhead
        var ok = false
        let json = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            ok = Sodium.open(key: key, sealed: UnsafeRawBufferPointer(sealed), output: UnsafeMutableRawBufferPointer(buffer))
            initialised = count
        }
        guard ok else { throw innerDidNotVerify }
        return json
    }

    private static var innerDidNotVerify: PaddingtonError {
        PaddingtonError(.decryptionFailed, "inner layer did not verify (wrong keys or tampered frame)")
    }

    private static func nonHex(at offset: Int, in frame: UnsafeRawBufferPointer) -> PaddingtonError {
        let byte = frame[offset]
        let what = byte < 0x80 ? "non-hex character" : "non-ASCII byte 0x\(String(byte, radix: 16))"
        return PaddingtonError(.malformedFrame, "frame has a \(what) at offset \(offset)")
    }

    /// Runs `body` with a 32-byte key buffer on the stack, zeroed afterwards.
    private static func withLayerKey<R>(_ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { key in
            defer { Sodium.memzero(key) }
            return try body(key.baseAddress!)
        }
    }

    /// Derives `kin` and `kout` for one frame into a stack buffer that is zeroed afterwards.
    private static func withLayerKeys<Schedule: EnvelopeKeySchedule, R>(
        _ schedule: Schedule,
        infos: UnsafeRawBufferPointer,
        _ body: (UnsafeRawPointer, UnsafeRawPointer) throws -> R
    ) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { derived in
            defer { Sodium.memzero(derived) }
            let base = derived.baseAddress!
            schedule.deriveInnerKey(info: UnsafeRawBufferPointer(rebasing: infos[0..<32]), into: base)
            schedule.deriveOuterKey(info: UnsafeRawBufferPointer(rebasing: infos[32..<64]), into: base + 32)
            return try body(UnsafeRawPointer(base), UnsafeRawPointer(base + 32))
        }
    }
}
