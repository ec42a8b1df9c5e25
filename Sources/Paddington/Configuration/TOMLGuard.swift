/// A lexical pre-check run before any text reaches toml++ (through TOMLKit).
///
/// toml++ 3 asserts, aborting the process even in release builds, on a table header whose key starts
/// with a non-ASCII character (the four bytes `[é]` are enough). TOML allows non-ASCII only inside
/// strings and comments (bare keys are `A-Za-z0-9_-`), so refusing it anywhere else never refuses a
/// valid document. The same assertion fires on any header key that does not start with a bare-key
/// character or a quote (`[^a]`), so header starts are checked too. Found by the `files` fuzz target.
enum TOMLGuard {
    private static func isKeyStart(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'"):
            return true
        default:
            return false
        }
    }

    /// Nil when the text is safe to hand to the parser, else the line and column of the problem.
    static func firstProblem(in text: String) -> (line: Int, column: Int, what: String)? {
        enum State { case normal, comment, basic, literal, multilineBasic, multilineLiteral }
        let bytes = Array(text.utf8)
        var state = State.normal
        var line = 1
        var lineStart = 0
        var index = 0
        func starts(_ pattern: String, at position: Int) -> Bool {
            let pattern = Array(pattern.utf8)
            return position + pattern.count <= bytes.count && Array(bytes[position..<(position + pattern.count)]) == pattern
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A {
                line += 1
                lineStart = index + 1
                if state == .comment || state == .basic || state == .literal { state = .normal }
                index += 1
                continue
            }
            switch state {
            case .normal:
                if byte >= 0x80 {
                    return (line, index - lineStart + 1, "a non-ASCII character outside a string or comment")
                }
                if byte == 0 { return (line, index - lineStart + 1, "a NUL byte") }
                if byte == UInt8(ascii: "["), bytes[lineStart..<index].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                    // A table header: its first key must start with a bare-key character or a quote.
                    var next = index + 1
                    if next < bytes.count, bytes[next] == UInt8(ascii: "[") { next += 1 }
                    while next < bytes.count, bytes[next] == 0x20 || bytes[next] == 0x09 { next += 1 }
                    guard next < bytes.count, isKeyStart(bytes[next]) else {
                        return (line, next - lineStart + 1, "a table header whose key does not start with a letter, digit, '_', '-' or a quote")
                    }
                }
                if byte == UInt8(ascii: "#") {
                    state = .comment
                } else if starts("\"\"\"", at: index) {
                    state = .multilineBasic
                    index += 3
                    continue
                } else if starts("'''", at: index) {
                    state = .multilineLiteral
                    index += 3
                    continue
                } else if byte == UInt8(ascii: "\"") {
                    state = .basic
                } else if byte == UInt8(ascii: "'") {
                    state = .literal
                }
            case .comment:
                break
            case .basic, .multilineBasic:
                if byte == 0 { return (line, index - lineStart + 1, "a NUL byte") }
                if byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                if state == .multilineBasic, starts("\"\"\"", at: index) {
                    state = .normal
                    index += 3
                    continue
                }
                if state == .basic, byte == UInt8(ascii: "\"") { state = .normal }
            case .literal:
                if byte == UInt8(ascii: "'") { state = .normal }
            case .multilineLiteral:
                if starts("'''", at: index) {
                    state = .normal
                    index += 3
                    continue
                }
            }
            index += 1
        }
        return nil
    }
}
