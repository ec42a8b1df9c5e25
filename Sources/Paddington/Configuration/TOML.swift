import Foundation

/// A strict TOML 1.0 reader and a writer in the layout the Rust `toml` crate produces.
///
/// We started on TOMLKit (toml++), but fuzzing showed that toml++ treats malformed input as an
/// internal invariant: `[é]`, `[^a]` or `a = [}` abort the process through `assert` (and are
/// undefined behaviour where asserts are compiled out). Invitations come from other people, so the
/// reader must refuse bad text with a line and column, never crash. This one covers all of TOML that
/// configuration files use: comments, bare, quoted and dotted keys, tables, arrays of tables, basic and
/// literal strings (single- and multi-line), integers (decimal, hex, octal, binary), floats, booleans,
/// dates and times (kept as text), arrays and inline tables.
enum TOML {
    /// A TOML value. Dates and times are kept as their text.
    indirect enum Value: Equatable, Sendable {
        case string(String)
        case integer(Int)
        case float(Double)
        case boolean(Bool)
        case datetime(String)
        case array([Value])
        case table(Table)

        var typeName: String {
            switch self {
            case .string: return "a string"
            case .integer: return "an integer"
            case .float: return "a float"
            case .boolean: return "a boolean"
            case .datetime: return "a date or time"
            case .array: return "an array"
            case .table: return "a table"
            }
        }
    }

    /// A table whose keys keep their order.
    struct Table: Equatable, Sendable {
        private(set) var keys: [String] = []
        private var values: [String: Value] = [:]

        init() {}

        subscript(key: String) -> Value? {
            get { values[key] }
            set {
                if values[key] == nil, newValue != nil { keys.append(key) }
                if newValue == nil { keys.removeAll { $0 == key } }
                values[key] = newValue
            }
        }
    }

    struct SyntaxError: Error, CustomStringConvertible {
        var message: String
        var line: Int
        var column: Int
        var description: String { "\(message) at line \(line), column \(column)" }
    }

    // MARK: Reading

    static func parse(_ text: String) throws -> Table {
        var parser = Parser(Array(text.utf8))
        return try parser.document()
    }

    /// The parse tree: tables are references while parsing, so that headers can reopen them.
    private final class Node {
        enum Entry {
            case value(Value)
            case table(Node)
            case tables([Node])
        }

        var order: [String] = []
        var entries: [String: Entry] = [:]
        /// Defined by its own `[header]` (a second header for it is an error).
        var explicit = false
        /// Defined by dotted keys or an inline table (a later `[header]` for it is an error).
        var closed = false

        init() {}

        /// An inline table: complete as written, so nothing may be added to it later.
        init(from table: Table) {
            closed = true
            explicit = true
            for key in table.keys {
                switch table[key]! {
                case .table(let child): set(key, .table(Node(from: child)))
                case let value: set(key, .value(value))
                }
            }
        }

        func set(_ key: String, _ entry: Entry) {
            if entries[key] == nil { order.append(key) }
            entries[key] = entry
        }

        func table() -> Table {
            var table = Table()
            for key in order {
                switch entries[key]! {
                case .value(let value): table[key] = value
                case .table(let node): table[key] = .table(node.table())
                case .tables(let nodes): table[key] = .array(nodes.map { .table($0.table()) })
                }
            }
            return table
        }
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var lineStart = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        func peek(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }

        func fail(_ message: String) -> SyntaxError {
            SyntaxError(message: message, line: line, column: index - lineStart + 1)
        }

        func describe(_ byte: UInt8?) -> String {
            guard let byte else { return "the end of the file" }
            if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            if byte == 0x0A { return "a line break" }
            if byte >= 0x80 { return "a non-ASCII character" }
            return "the byte 0x\(String(byte, radix: 16))"
        }

        mutating func advance() {
            if current == 0x0A {
                line += 1
                lineStart = index + 1
            }
            index += 1
        }

        mutating func skipSpaces() {
            while let byte = current, byte == 0x20 || byte == 0x09 { index += 1 }
        }

        /// Spaces, then an optional comment, then a line break or the end.
        mutating func endOfLine() throws {
            skipSpaces()
            if current == UInt8(ascii: "#") { try comment() }
            if current == 0x0D, peek(1) == 0x0A { index += 1 }
            guard current == nil || current == 0x0A else { throw fail("expected the end of the line, found \(describe(current))") }
            if current != nil { advance() }
        }

        mutating func comment() throws {
            while let byte = current, byte != 0x0A {
                if byte == 0x0D, peek(1) == 0x0A { break }
                if byte < 0x20 && byte != 0x09 || byte == 0x7F { throw fail("a control character in a comment") }
                index += 1
            }
        }

        /// Blank lines and comments between values in arrays.
        mutating func skipWhitespaceAndComments() throws {
            while let byte = current {
                if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
                    advance()
                } else if byte == UInt8(ascii: "#") {
                    try comment()
                } else {
                    return
                }
            }
        }

        mutating func document() throws -> Table {
            let root = Node()
            var target = root
            while true {
                try skipWhitespaceAndComments()
                guard let byte = current else { break }
                if byte == UInt8(ascii: "[") {
                    target = try header(root: root)
                } else {
                    try keyValue(into: target)
                    try endOfLine()
                }
            }
            return root.table()
        }

        mutating func header(root: Node) throws -> Node {
            index += 1
            let isArray = current == UInt8(ascii: "[")
            if isArray { index += 1 }
            skipSpaces()
            let path = try key()
            skipSpaces()
            guard current == UInt8(ascii: "]") else { throw fail("expected ']' to end the table header, found \(describe(current))") }
            index += 1
            if isArray {
                guard current == UInt8(ascii: "]") else { throw fail("expected ']]' to end the array-of-tables header") }
                index += 1
            }
            try endOfLine()
            var node = root
            for segment in path.dropLast() {
                switch node.entries[segment] {
                case nil:
                    let child = Node()
                    node.set(segment, .table(child))
                    node = child
                case .table(let child)?:
                    node = child
                case .tables(let children)?:
                    node = children[children.count - 1]
                case .value?:
                    throw fail("'\(segment)' is a value, not a table")
                }
            }
            let last = path[path.count - 1]
            if isArray {
                switch node.entries[last] {
                case nil:
                    let child = Node()
                    node.set(last, .tables([child]))
                    return child
                case .tables(let children)?:
                    let child = Node()
                    node.set(last, .tables(children + [child]))
                    return child
                default:
                    throw fail("'\(path.joined(separator: "."))' is already defined and is not an array of tables")
                }
            }
            switch node.entries[last] {
            case nil:
                let child = Node()
                child.explicit = true
                node.set(last, .table(child))
                return child
            case .table(let child)?:
                guard !child.explicit, !child.closed else { throw fail("the table '\(path.joined(separator: "."))' is defined twice") }
                child.explicit = true
                return child
            default:
                throw fail("'\(path.joined(separator: "."))' is already defined and is not a table")
            }
        }

        mutating func keyValue(into table: Node) throws {
            let path = try key()
            skipSpaces()
            guard current == UInt8(ascii: "=") else { throw fail("expected '=' after the key, found \(describe(current))") }
            index += 1
            skipSpaces()
            let parsed = try value()
            var node = table
            for segment in path.dropLast() {
                switch node.entries[segment] {
                case nil:
                    let child = Node()
                    child.closed = true
                    node.set(segment, .table(child))
                    node = child
                case .table(let child)? where !child.explicit:
                    node = child
                default:
                    throw fail("the key '\(segment)' is already defined")
                }
            }
            let last = path[path.count - 1]
            guard node.entries[last] == nil else { throw fail("the key '\(path.joined(separator: "."))' is defined twice") }
            switch parsed {
            case .table(let inline):
                let child = Node(from: inline)
                node.set(last, .table(child))
            default:
                node.set(last, .value(parsed))
            }
        }

        /// A dotted key: one or more bare or quoted parts.
        mutating func key() throws -> [String] {
            var parts: [String] = []
            while true {
                skipSpaces()
                guard let byte = current else { throw fail("expected a key, found the end of the file") }
                if byte == UInt8(ascii: "\"") {
                    if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") { throw fail("a key cannot be a multi-line string") }
                    parts.append(try basicString())
                } else if byte == UInt8(ascii: "'") {
                    if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") { throw fail("a key cannot be a multi-line string") }
                    parts.append(try literalString())
                } else {
                    let start = index
                    while let byte = current, Self.isBareKey(byte) { index += 1 }
                    guard index > start else { throw fail("expected a key (letters, digits, '_', '-' or a quoted string), found \(describe(current))") }
                    parts.append(String(decoding: bytes[start..<index], as: UTF8.self))
                }
                skipSpaces()
                guard current == UInt8(ascii: ".") else { return parts }
                index += 1
            }
        }

        static func isBareKey(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F || byte == 0x2D
        }

        mutating func value(depth: Int = 0) throws -> Value {
            guard depth < 64 else { throw fail("values nested more than 64 deep") }
            guard let byte = current else { throw fail("expected a value, found the end of the file") }
            switch byte {
            case UInt8(ascii: "\""):
                if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") { return .string(try multilineString(literal: false)) }
                return .string(try basicString())
            case UInt8(ascii: "'"):
                if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") { return .string(try multilineString(literal: true)) }
                return .string(try literalString())
            case UInt8(ascii: "["):
                return try array(depth: depth)
            case UInt8(ascii: "{"):
                return try inlineTable(depth: depth)
            case UInt8(ascii: "t"), UInt8(ascii: "f"):
                if matches("true") { index += 4; return .boolean(true) }
                if matches("false") { index += 5; return .boolean(false) }
                throw fail("expected a value, found \(describe(byte))")
            default:
                return try numberOrDate()
            }
        }

        func matches(_ word: String) -> Bool {
            let word = Array(word.utf8)
            guard index + word.count <= bytes.count, Array(bytes[index..<(index + word.count)]) == word else { return false }
            if let next = index + word.count < bytes.count ? bytes[index + word.count] : nil, Self.isBareKey(next) { return false }
            return true
        }

        mutating func array(depth: Int) throws -> Value {
            index += 1
            var items: [Value] = []
            while true {
                try skipWhitespaceAndComments()
                if current == UInt8(ascii: "]") {
                    index += 1
                    return .array(items)
                }
                items.append(try value(depth: depth + 1))
                try skipWhitespaceAndComments()
                if current == UInt8(ascii: ",") {
                    index += 1
                } else if current != UInt8(ascii: "]") {
                    throw fail("expected ',' or ']' in an array, found \(describe(current))")
                }
            }
        }

        mutating func inlineTable(depth: Int) throws -> Value {
            index += 1
            let node = Node()
            skipSpaces()
            if current == UInt8(ascii: "}") {
                index += 1
                return .table(node.table())
            }
            while true {
                skipSpaces()
                try keyValue(into: node)
                skipSpaces()
                if current == UInt8(ascii: "}") {
                    index += 1
                    return .table(node.table())
                }
                guard current == UInt8(ascii: ",") else { throw fail("expected ',' or '}' in an inline table, found \(describe(current))") }
                index += 1
            }
        }

        mutating func numberOrDate() throws -> Value {
            let start = index
            while let byte = current, Self.isBareKey(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") {
                index += 1
            }
            // A date and a time may be separated by one space.
            if current == 0x20, index - start == 10, let next = peek(1), next >= 0x30, next <= 0x39,
                bytes[start..<index].contains(UInt8(ascii: "-"))
            {
                index += 1
                while let byte = current, Self.isBareKey(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":") {
                    index += 1
                }
            }
            let token = String(decoding: bytes[start..<index], as: UTF8.self)
            guard !token.isEmpty else { throw fail("expected a value, found \(describe(current))") }
            let column = start - lineStart + 1
            func bad() -> SyntaxError { SyntaxError(message: "'\(token)' is not a valid value", line: line, column: column) }
            let unsigned = token.hasPrefix("+") || token.hasPrefix("-") ? String(token.dropFirst()) : token
            if ["inf", "nan"].contains(unsigned) {
                return .float(unsigned == "nan" ? .nan : (token.hasPrefix("-") ? -.infinity : .infinity))
            }
            guard let first = unsigned.first, first.isASCII, first.isNumber else { throw bad() }
            if unsigned.count >= 3, unsigned.hasPrefix("0x") || unsigned.hasPrefix("0o") || unsigned.hasPrefix("0b") {
                guard token == unsigned else { throw bad() }
                let radix = unsigned.hasPrefix("0x") ? 16 : unsigned.hasPrefix("0o") ? 8 : 2
                guard let digits = Self.digits(String(unsigned.dropFirst(2))), let value = Int(digits, radix: radix) else { throw bad() }
                return .integer(value)
            }
            if token.contains(":") || (unsigned.contains("-") && !unsigned.lowercased().contains("e")) {
                guard token == unsigned, token.allSatisfy({ $0.isASCII && ($0.isNumber || "-:.TtZz+ ".contains($0)) }) else { throw bad() }
                return .datetime(token)
            }
            guard let digits = Self.digits(unsigned) else { throw bad() }
            if digits.count > 1, digits.hasPrefix("0"), digits.allSatisfy(\.isNumber) { throw bad() }
            if digits.contains(".") || digits.lowercased().contains("e") {
                guard let value = Double(digits), value.isFinite, !digits.hasPrefix("."), !digits.hasSuffix(".") else { throw bad() }
                return .float(token.hasPrefix("-") ? -value : value)
            }
            guard let value = Int(token.hasPrefix("-") ? "-" + digits : digits) else { throw bad() }
            return .integer(value)
        }

        /// Removes the underscores TOML allows between digits; nil when they are misplaced.
        static func digits(_ text: String) -> String? {
            guard !text.isEmpty, !text.hasPrefix("_"), !text.hasSuffix("_"), !text.contains("__") else { return nil }
            return text.replacingOccurrences(of: "_", with: "")
        }

        mutating func basicString() throws -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("a string is not closed") }
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if byte == 0x0A || byte == 0x0D { throw fail("a line break inside a single-line string") }
                if byte == UInt8(ascii: "\\") {
                    try escape(into: &out)
                    continue
                }
                if byte < 0x20 && byte != 0x09 || byte == 0x7F { throw fail("a control character inside a string") }
                out.append(byte)
                index += 1
            }
        }

        mutating func literalString() throws -> String {
            index += 1
            let start = index
            while true {
                guard let byte = current else { throw fail("a string is not closed") }
                if byte == UInt8(ascii: "'") {
                    let text = String(decoding: bytes[start..<index], as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == 0x0A || byte == 0x0D { throw fail("a line break inside a single-line string") }
                if byte < 0x20 && byte != 0x09 || byte == 0x7F { throw fail("a control character inside a string") }
                index += 1
            }
        }

        mutating func multilineString(literal: Bool) throws -> String {
            let quote = literal ? UInt8(ascii: "'") : UInt8(ascii: "\"")
            index += 3
            // A line break right after the opening delimiter is trimmed.
            if current == 0x0D, peek(1) == 0x0A { index += 1 }
            if current == 0x0A { advance() }
            var out: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("a multi-line string is not closed") }
                if byte == quote, peek(1) == quote, peek(2) == quote {
                    // Up to two more quotes may belong to the content ("""a"""" is `a"`).
                    var run = 3
                    while run < 5, peek(run) == quote { run += 1 }
                    out += [UInt8](repeating: quote, count: run - 3)
                    index += run
                    return String(decoding: out, as: UTF8.self)
                }
                if !literal, byte == UInt8(ascii: "\\") {
                    // A backslash at the end of a line trims the line break and following white space.
                    var look = index + 1
                    while look < bytes.count, bytes[look] == 0x20 || bytes[look] == 0x09 { look += 1 }
                    if look < bytes.count, bytes[look] == 0x0A || bytes[look] == 0x0D {
                        index = look
                        while let next = current, next == 0x20 || next == 0x09 || next == 0x0A || next == 0x0D { advance() }
                        continue
                    }
                    try escape(into: &out)
                    continue
                }
                if byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D || byte == 0x7F {
                    throw fail("a control character inside a string")
                }
                out.append(byte)
                advance()
            }
        }

        mutating func escape(into out: inout [UInt8]) throws {
            index += 1
            guard let code = current else { throw fail("a string ends in a backslash") }
            index += 1
            switch code {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let count = code == UInt8(ascii: "u") ? 4 : 8
                guard index + count <= bytes.count, let value = UInt32(String(decoding: bytes[index..<(index + count)], as: UTF8.self), radix: 16),
                    bytes[index..<(index + count)].allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                    let scalar = Unicode.Scalar(value)
                else { throw fail("an invalid \\u escape") }
                out += Array(String(Character(scalar)).utf8)
                index += count
            default:
                index -= 1
                throw fail("an invalid escape '\\\(Character(Unicode.Scalar(code)))'")
            }
        }
    }

    // MARK: Writing

    /// TOML text in the layout of the Rust `toml` crate: each table's plain values first (arrays of
    /// plain values and empty arrays inline), then its sub-tables and arrays of tables as sections, a
    /// blank line before each section header; basic strings; a final line break.
    static func render(_ table: Table) -> String {
        var lines: [String] = []
        renderSection(table, path: [], header: nil, into: &lines)
        return lines.joined(separator: "\n") + "\n"
    }

    private static func isSection(_ value: Value) -> Bool {
        switch value {
        case .table: return true
        case .array(let items): return !items.isEmpty && items.allSatisfy { if case .table = $0 { return true } else { return false } }
        default: return false
        }
    }

    private static func renderSection(_ table: Table, path: [String], header: String?, into lines: inout [String]) {
        let plain = table.keys.filter { !isSection(table[$0]!) }
        if let header, !plain.isEmpty || table.keys.isEmpty || header.hasPrefix("[[") {
            if !lines.isEmpty { lines.append("") }
            lines.append(header)
        }
        for key in plain { lines.append("\(renderKey(key)) = \(renderValue(table[key]!))") }
        for key in table.keys where isSection(table[key]!) {
            let childPath = path + [key]
            let name = childPath.map(renderKey).joined(separator: ".")
            switch table[key]! {
            case .table(let child):
                renderSection(child, path: childPath, header: "[\(name)]", into: &lines)
            case .array(let items):
                for case .table(let child) in items {
                    renderSection(child, path: childPath, header: "[[\(name)]]", into: &lines)
                }
            default:
                break
            }
        }
    }

    private static func renderKey(_ key: String) -> String {
        !key.isEmpty && key.utf8.allSatisfy(Parser.isBareKey) ? key : renderString(key)
    }

    private static func renderValue(_ value: Value) -> String {
        switch value {
        case .string(let text): return renderString(text)
        case .integer(let number): return String(number)
        case .float(let number):
            if number.isNaN { return "nan" }
            if number.isInfinite { return number < 0 ? "-inf" : "inf" }
            let text = String(number)
            return text.contains(".") || text.contains("e") ? text : text + ".0"
        case .boolean(let flag): return flag ? "true" : "false"
        case .datetime(let text): return text
        case .array(let items): return "[" + items.map(renderValue).joined(separator: ", ") + "]"
        case .table(let table):
            return "{ " + table.keys.map { "\(renderKey($0)) = \(renderValue(table[$0]!))" }.joined(separator: ", ") + " }"
        }
    }

    private static func renderString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{08}": out += "\\b"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\u{0C}": out += "\\f"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

