/// Hex encoding and strict decoding.
///
/// Encoding is lowercase, as the Rust `hex` crate writes. Decoding accepts either case and nothing
/// else: no whitespace, no `0x`, no odd lengths. Ciphertext and infos are public, so the
/// table-driven codec here is not constant-time; key files are small and decoded once.
public enum Hex {
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
    /// because step `i` reads input byte `i` before it writes output bytes `2i` and `2i+1`, and those
    /// never lie past input byte `i`.
    @inline(__always)
    public static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= input.count * 2)
        let count = input.count
        guard count > 0, let src = input.baseAddress, let dst = output.baseAddress else { return }
        pairs.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            for i in 0..<count {
                let pair = table[Int(src.load(fromByteOffset: i, as: UInt8.self))]
                dst.storeBytes(of: pair.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        }
    }

    /// Decodes hex characters into `output` (`input.count / 2` bytes). Returns nil on success or the
    /// offset of the first character that is not a hex digit. `input.count` must be even.
    ///
    /// In-place decoding (output at the same address as input) is allowed: byte `i` is written after
    /// characters `2i` and `2i+1` are read.
    @inline(__always)
    public static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(input.count % 2 == 0 && output.count >= input.count / 2)
        let count = input.count / 2
        guard count > 0, let src = input.baseAddress, let dst = output.baseAddress else { return nil }
        var bad: UInt8 = 0
        values.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            for i in 0..<count {
                let hi = table[Int(src.load(fromByteOffset: 2 * i, as: UInt8.self))]
                let lo = table[Int(src.load(fromByteOffset: 2 * i + 1, as: UInt8.self))]
                bad |= hi | lo
                dst.storeBytes(of: (hi << 4) | (lo & 0x0f), toByteOffset: i, as: UInt8.self)
            }
        }
        // 0xFF has the high bit set; valid digits never do.
        guard bad & 0x80 != 0 else { return nil }
        return firstInvalidOffset(input)
    }

    /// The offset of the first byte that is not an ASCII hex digit, or nil.
    public static func firstInvalidOffset(_ input: UnsafeRawBufferPointer) -> Int? {
        values.withUnsafeBufferPointer { table in
            input.firstIndex { table[Int($0)] == 0xFF }
        }
    }

    /// Lowercase hex of `bytes`.
    public static func encodeToString(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encodeToString($0) }
    }

    /// Lowercase hex of raw bytes.
    public static func encodeToString(_ input: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: input.count * 2) { buffer in
            encode(input, into: UnsafeMutableRawBufferPointer(buffer))
            return input.count * 2
        }
    }

    /// Bytes of a hex string (either case), or nil when it has an odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
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
