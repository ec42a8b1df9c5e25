/// A JSON string literal codec that matches `serde_json` byte for byte.
///
/// Every session payload and the outer envelope layer are JSON *strings*, so this codec sits on the
/// hot path; it avoids Foundation and copies at most once.
///
/// Encoding escapes only `"`, `\` and U+0000–U+001F (`\b \f \n \r \t`, else `\u00xx`), writes
/// non-ASCII as UTF-8 and never escapes `/`, exactly as serde_json does. Decoding accepts any valid
/// JSON string literal (surrounding JSON whitespace, every escape, surrogate pairs) and rejects what
/// serde_json rejects: raw control characters, unknown escapes, lone surrogates, invalid UTF-8 and
/// trailing garbage.
package enum JSONString {
    /// The JSON literal for `text`, as UTF-8 bytes.
    package static func encode(_ text: String) -> [UInt8] {
        var output: [UInt8] = []
        append(text, to: &output)
        return output
    }

    /// Appends the JSON literal for `text` to `output`.
    package static func append(_ text: String, to output: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            output.reserveCapacity(output.count + utf8.count + 2)
            output.append(UInt8(ascii: "\""))
            if firstSpecial(UnsafeRawBufferPointer(utf8)) == utf8.count {
                output.append(contentsOf: utf8)
                output.append(UInt8(ascii: "\""))
                return
            }
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                appendEscape(byte, to: &output)
                runStart = index + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<utf8.count]))
            output.append(UInt8(ascii: "\""))
        }
    }

    private static func appendEscape(_ byte: UInt8, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\\"))
        switch byte {
        case 0x22: output.append(UInt8(ascii: "\""))
        case 0x5C: output.append(UInt8(ascii: "\\"))
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x0C: output.append(UInt8(ascii: "f"))
        case 0x0A: output.append(UInt8(ascii: "n"))
        case 0x0D: output.append(UInt8(ascii: "r"))
        case 0x09: output.append(UInt8(ascii: "t"))
        default:
            let digits: [UInt8] = Array("0123456789abcdef".utf8)
            output.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            output.append(digits[Int(byte >> 4)])
            output.append(digits[Int(byte & 0xf)])
        }
    }

    /// Decodes one JSON string literal (with optional surrounding whitespace).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidJSON`` naming the offset and the problem.
    package static func decode(_ bytes: UnsafeRawBufferPointer) throws -> String {
        guard let (start, end) = literalBounds(bytes) else {
            throw PaddingtonError(.invalidJSON, "expected a JSON string, got \(describeStart(bytes))")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<(end - 1)])
        // Fast path: no escapes and no control characters, so the body is the string's UTF-8.
        let special = firstSpecial(body)
        if special < body.count, body[special] != 0x5C {
            throw PaddingtonError(.invalidJSON, "control character or quote at offset \(start + 1 + special) inside a JSON string")
        }
        if special == body.count {
            guard let text = String(validating: body.bindMemory(to: UInt8.self), as: UTF8.self) else {
                throw PaddingtonError(.invalidJSON, "a JSON string is not valid UTF-8")
            }
            return text
        }
        return try decodeEscaped(body, baseOffset: start + 1)
    }

    /// Convenience over ``decode(_:)-(UnsafeRawBufferPointer)`` for byte arrays.
    package static func decode(_ bytes: [UInt8]) throws -> String {
        try bytes.withUnsafeBytes { try decode($0) }
    }

    /// The offset of the first byte that needs attention inside a string literal (`"`, `\\` or a
    /// control character below 0x20), or `bytes.count`. Scans eight bytes at a time.
    @inline(__always)
    static func firstSpecial(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        guard let base = bytes.baseAddress else { return 0 }
        var i = 0
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        while i + 8 <= count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            // A zero byte in word ^ c marks a match; (x - 1) & ~x & 0x80 finds zero bytes. Bytes below
            // 0x20 are those with (byte - 0x20) borrowing into the high bit while the byte itself is ASCII.
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let hasQuote = (quote &- ones) & ~quote
            let hasBackslash = (backslash &- ones) & ~backslash
            let hasControl = (word &- (ones &* 0x20)) & ~word
            if (hasQuote | hasBackslash | hasControl) & high != 0 { break }
            i += 8
        }
        while i < count {
            let byte = base.load(fromByteOffset: i, as: UInt8.self)
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return i }
            i += 1
        }
        return count
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// Start (opening quote) and end (one past the closing quote) of a literal that fills `bytes`
    /// apart from JSON whitespace, or nil. The closing quote must not be escaped.
    private static func literalBounds(_ bytes: UnsafeRawBufferPointer) -> (Int, Int)? {
        var start = 0
        var end = bytes.count
        while start < end, isWhitespace(bytes[start]) { start += 1 }
        while end > start, isWhitespace(bytes[end - 1]) { end -= 1 }
        guard end - start >= 2, bytes[start] == 0x22, bytes[end - 1] == 0x22 else { return nil }
        // An odd run of backslashes before the final quote escapes it.
        var backslashes = 0
        var index = end - 2
        while index > start, bytes[index] == 0x5C {
            backslashes += 1
            index -= 1
        }
        guard backslashes % 2 == 0 else { return nil }
        return (start, end)
    }

    private static func describeStart(_ bytes: UnsafeRawBufferPointer) -> String {
        guard let first = bytes.first(where: { !isWhitespace($0) }) else { return "nothing" }
        switch first {
        case 0x7B: return "a JSON object"
        case 0x5B: return "a JSON array"
        case 0x22: return "an unterminated or malformed string"
        case 0x74, 0x66: return "a JSON boolean"
        case 0x6E: return "null"
        case 0x2D, 0x30...0x39: return "a JSON number"
        default: return "bytes that are not JSON"
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case 0x30...0x39: return UInt32(byte - 0x30)
        case 0x61...0x66: return UInt32(byte - 0x61 + 10)
        case 0x41...0x46: return UInt32(byte - 0x41 + 10)
        default: return nil
        }
    }

    private static func decodeEscaped(_ body: UnsafeRawBufferPointer, baseOffset: Int) throws -> String {
        var output: [UInt8] = []
        output.reserveCapacity(body.count)
        var index = 0
        func fail(_ what: String) -> PaddingtonError {
            PaddingtonError(.invalidJSON, "\(what) at offset \(baseOffset + index) inside a JSON string")
        }
        func readHex4(at position: Int) throws -> UInt32 {
            guard position + 4 <= body.count else { throw fail("truncated \\u escape") }
            var value: UInt32 = 0
            for k in 0..<4 {
                guard let digit = hexValue(body[position + k]) else { throw fail("invalid \\u escape") }
                value = value << 4 | digit
            }
            return value
        }
        while index < body.count {
            let byte = body[index]
            if byte < 0x20 || byte == 0x22 { throw fail("unescaped control character or quote") }
            guard byte == 0x5C else {
                output.append(byte)
                index += 1
                continue
            }
            guard index + 1 < body.count else { throw fail("dangling backslash") }
            let escape = body[index + 1]
            switch escape {
            case 0x22: output.append(0x22)
            case 0x5C: output.append(0x5C)
            case 0x2F: output.append(0x2F)
            case 0x62: output.append(0x08)
            case 0x66: output.append(0x0C)
            case 0x6E: output.append(0x0A)
            case 0x72: output.append(0x0D)
            case 0x74: output.append(0x09)
            case 0x75:
                var scalar = try readHex4(at: index + 2)
                var consumed = 6
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 7 < body.count, body[index + 6] == 0x5C, body[index + 7] == 0x75 else {
                        throw fail("lone leading surrogate")
                    }
                    let low = try readHex4(at: index + 8)
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("lone leading surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    consumed = 12
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("lone trailing surrogate")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid code point") }
                output.append(contentsOf: String(Character(unicode)).utf8)
                index += consumed
                continue
            default:
                throw fail("invalid escape")
            }
            index += 2
        }
        guard let text = String(validating: output, as: UTF8.self) else {
            throw PaddingtonError(.invalidJSON, "a JSON string is not valid UTF-8")
        }
        return text
    }
}
