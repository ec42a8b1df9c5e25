/// Hex encoding and strict decoding.
///
/// Encoding is lowercase, as the Rust `hex` crate writes. Decoding accepts either case and nothing
/// else: no whitespace, no `0x`, no odd lengths. Ciphertext and infos are public, so the
/// table-driven codec here is not constant-time; key files are small and decoded once.
package enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Two ASCII digits per byte value, packed little-endian so one 16-bit store writes both.
    private static let pairs: [UInt16] = (0..<256).map { byte in
        UInt16(digits[byte >> 4]) | (UInt16(digits[byte & 0xf]) << 8)
    }

    /// 0...15 for a hex digit, 0xFF for anything else.
    private static let values: [UInt8] = (0..<256).map { c -> UInt8 in
        switch UInt8(c) {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt8(c) - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt8(c) - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt8(c) - UInt8(ascii: "A") + 10
        default: return 0xFF
        }
    }

    /// Writes `2 * input.count` lowercase hex characters to `output`.
    ///
    /// In-place expansion is allowed: the caller may put `input` in the upper half of `output`,
    /// because every step reads its input bytes before it writes output bytes, and the output of
    /// step `i` never lies past input byte `i`.
    @inline(__always)
    package static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= input.count * 2)
        let count = input.count
        guard count > 0, let src = input.baseAddress, let dst = output.baseAddress else { return }
        var i = 0
        // Sixteen input bytes become thirty-two characters per step (SIMD; LLVM turns the
        // element-wise interleave into byte shuffles).
        while i + 16 <= count {
            let bytes = src.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
            let hi = bytes &>> 4
            let lo = bytes & 0x0F
            let first = SIMD16<UInt8>(
                hi[0], lo[0], hi[1], lo[1], hi[2], lo[2], hi[3], lo[3], hi[4], lo[4], hi[5], lo[5], hi[6], lo[6], hi[7], lo[7])
            let second = SIMD16<UInt8>(
                hi[8], lo[8], hi[9], lo[9], hi[10], lo[10], hi[11], lo[11], hi[12], lo[12], hi[13], lo[13], hi[14], lo[14], hi[15], lo[15])
            dst.storeBytes(of: first &+ 0x30 &+ ((first &+ 6) &>> 4) &* 0x27, toByteOffset: 2 * i, as: SIMD16<UInt8>.self)
            dst.storeBytes(of: second &+ 0x30 &+ ((second &+ 6) &>> 4) &* 0x27, toByteOffset: 2 * i + 16, as: SIMD16<UInt8>.self)
            i += 16
        }
        // Four input bytes become eight characters per step (SWAR on one 64-bit word).
        while i + 4 <= count {
            let word = UInt64(UInt32(littleEndian: src.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            var lanes = (word | (word << 16)) & 0x0000_FFFF_0000_FFFF
            lanes = (lanes | (lanes << 8)) & 0x00FF_00FF_00FF_00FF
            // Byte 2k holds the high nibble of input byte k, byte 2k+1 the low nibble.
            let nibbles = ((lanes >> 4) & 0x000F_000F_000F_000F) | ((lanes & 0x000F_000F_000F_000F) << 8)
            let letters = ((nibbles &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
            let ascii = nibbles &+ 0x3030_3030_3030_3030 &+ letters &* 0x27
            dst.storeBytes(of: ascii.littleEndian, toByteOffset: 2 * i, as: UInt64.self)
            i += 4
        }
        pairs.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            while i < count {
                let pair = table[Int(src.load(fromByteOffset: i, as: UInt8.self))]
                dst.storeBytes(of: pair.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                i += 1
            }
        }
    }

    /// Decodes hex characters into `output` (`input.count / 2` bytes). Returns nil on success or the
    /// offset of the first character that is not a hex digit. `input.count` must be even.
    ///
    /// In-place decoding (output at the same address as input) is allowed: output byte `i` is written
    /// after characters `2i` and `2i+1` are read.
    @inline(__always)
    package static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(input.count % 2 == 0 && output.count >= input.count / 2)
        let count = input.count
        guard count > 0, let src = input.baseAddress, let dst = output.baseAddress else { return nil }
        let high: UInt64 = 0x8080_8080_8080_8080
        var invalid: UInt64 = 0
        var i = 0
        // Eight characters become four bytes per step. A character is valid when it is ASCII and lies
        // in '0'...'9', or, with bit 5 set (folding A-F to a-f), in 'a'...'f'. Digits are checked
        // unfolded: folding would turn the control bytes 0x10...0x19 into '0'...'9'.
        while i + 16 <= count {
            for half in 0..<2 {
                let offset = i + 8 * half
                let word = UInt64(littleEndian: src.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                let folded = word | 0x2020_2020_2020_2020
                let isDigit = (word &+ 0x5050_5050_5050_5050) & ~(word &+ 0x4646_4646_4646_4646)
                let isLetter = (folded &+ 0x1F1F_1F1F_1F1F_1F1F) & ~(folded &+ 0x1919_1919_1919_1919)
                // Validity is checked once after the loop; a branch here would stop LLVM from vectorising.
                invalid |= word | ~(isDigit | isLetter)
                let nibbles = (folded & 0x0F0F_0F0F_0F0F_0F0F) &+ ((folded >> 6) & 0x0101_0101_0101_0101) &* 9
                var lanes = ((nibbles & 0x00FF_00FF_00FF_00FF) << 4) | ((nibbles >> 8) & 0x00FF_00FF_00FF_00FF)
                lanes = (lanes | (lanes >> 8)) & 0x0000_FFFF_0000_FFFF
                lanes = (lanes | (lanes >> 16)) & 0x0000_0000_FFFF_FFFF
                dst.storeBytes(of: UInt32(truncatingIfNeeded: lanes).littleEndian, toByteOffset: offset / 2, as: UInt32.self)
            }
            i += 16
        }
        var bad: UInt8 = 0
        values.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            while i < count {
                let hi = table[Int(src.load(fromByteOffset: i, as: UInt8.self))]
                let lo = table[Int(src.load(fromByteOffset: i + 1, as: UInt8.self))]
                bad |= hi | lo
                dst.storeBytes(of: (hi << 4) | (lo & 0x0f), toByteOffset: i / 2, as: UInt8.self)
                i += 2
            }
        }
        // 0xFF has the high bit set; valid digits never do.
        guard bad & 0x80 != 0 || invalid & high != 0 else { return nil }
        return firstInvalidOffset(input)
    }

    /// The offset of the first byte that is not an ASCII hex digit, or nil.
    package static func firstInvalidOffset(_ input: UnsafeRawBufferPointer) -> Int? {
        values.withUnsafeBufferPointer { table in
            input.firstIndex { table[Int($0)] == 0xFF }
        }
    }

    /// Lowercase hex of `bytes`.
    package static func encodeToString(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encodeToString($0) }
    }

    /// Lowercase hex of raw bytes.
    package static func encodeToString(_ input: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: input.count * 2) { buffer in
            encode(input, into: UnsafeMutableRawBufferPointer(buffer))
            return input.count * 2
        }
    }

    /// Bytes of a hex string (either case), or nil when it has an odd length or a non-hex character.
    package static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count % 2 == 0 else { return nil }
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: utf8.count / 2) { buffer, initialised in
                failed = decode(UnsafeRawBufferPointer(utf8), into: UnsafeMutableRawBufferPointer(buffer)) != nil
                initialised = utf8.count / 2
            }
            return failed ? nil : bytes
        }
    }
}
