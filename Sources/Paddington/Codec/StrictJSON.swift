/// A syntax check of JSON exactly as RFC 8259 defines it, for protocol 2's CONTROL bodies: UTF-8 only
/// (no byte-order mark, no UTF-16 or UTF-32), no trailing commas, no comments, no bare words, nothing
/// after the value. Foundation's parsers accept more than that; the spec says malformed JSON closes the
/// link, so this runs first.
enum StrictJSON {
    /// The deepest nesting accepted (the protocol's messages need three levels).
    static let maximumDepth = 32

    /// Throws when `bytes` is not one JSON value in UTF-8, optionally surrounded by whitespace.
    static func validate(_ bytes: [UInt8]) throws {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw PaddingtonError(.invalidJSON, "a CONTROL frame is not UTF-8")
        }
        var parser = Parser(bytes: bytes)
        try parser.skipWhitespace()
        try parser.value(depth: 0)
        try parser.skipWhitespace()
        guard parser.index == bytes.count else {
            throw parser.failure("something follows the JSON value")
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        func failure(_ what: String) -> PaddingtonError {
            PaddingtonError(.invalidJSON, "a CONTROL frame is not valid JSON: \(what) at byte \(index)")
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() throws {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws {
            guard current == byte else { throw failure("expected \(what)") }
            index += 1
        }

        mutating func value(depth: Int) throws {
            guard depth < StrictJSON.maximumDepth else { throw failure("nesting deeper than \(StrictJSON.maximumDepth)") }
            switch current {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte): try number()
            default: throw failure("expected a value")
            }
        }

        mutating func object(depth: Int) throws {
            index += 1
            try skipWhitespace()
            if current == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                try skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw failure("expected a key") }
                try string()
                try skipWhitespace()
                try expect(UInt8(ascii: ":"), "':'")
                try skipWhitespace()
                try value(depth: depth + 1)
                try skipWhitespace()
                if current == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                return
            }
        }

        mutating func array(depth: Int) throws {
            index += 1
            try skipWhitespace()
            if current == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                try skipWhitespace()
                try value(depth: depth + 1)
                try skipWhitespace()
                if current == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                try expect(UInt8(ascii: "]"), "',' or ']'")
                return
            }
        }

        mutating func string() throws {
            index += 1
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { throw failure("an unfinished escape") }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = current, Self.isHex(hex) else { throw failure("a bad \\u escape") }
                            index += 1
                        }
                    default:
                        throw failure("an unknown escape")
                    }
                case 0x00..<0x20:
                    throw failure("a control character in a string")
                default:
                    continue
                }
            }
            throw failure("an unfinished string")
        }

        static func isHex(_ byte: UInt8) -> Bool {
            (0x30...0x39).contains(byte) || (0x41...0x46).contains(byte) || (0x61...0x66).contains(byte)
        }

        mutating func literal(_ word: String) throws {
            for expected in word.utf8 {
                guard current == expected else { throw failure("expected '\(word)'") }
                index += 1
            }
        }

        mutating func number() throws {
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, (0x30...0x39).contains(first) else { throw failure("a bad number") }
            index += 1
            if first != 0x30 { digits() }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let digit = current, (0x30...0x39).contains(digit) else { throw failure("a bad fraction") }
                digits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let digit = current, (0x30...0x39).contains(digit) else { throw failure("a bad exponent") }
                digits()
            }
        }

        mutating func digits() {
            while let byte = current, (0x30...0x39).contains(byte) { index += 1 }
        }
    }
}
