/// A payload as the library carries it: text from the `String` API (what the Rust crate sends), or
/// bytes. Each codec turns it into its wire form without converting more than it must: protocol 1
/// carries text only (a JSON string), protocol 2 carries bytes.
package enum Payload: Sendable {
    case text(String)
    case bytes([UInt8])

    /// The payload as UTF-8 bytes.
    package var bytes: [UInt8] {
        switch self {
        case .text(let text): return Array(text.utf8)
        case .bytes(let bytes): return bytes
        }
    }

    /// The payload as text; bytes that are not UTF-8 are decoded with replacement characters.
    package var text: String {
        switch self {
        case .text(let text): return text
        case .bytes(let bytes): return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The number of bytes.
    package var count: Int {
        switch self {
        case .text(let text): return text.utf8.count
        case .bytes(let bytes): return bytes.count
        }
    }

    package var isEmpty: Bool { count == 0 }

    /// Calls `body` with the payload's UTF-8 bytes, without copying them out of the `String` or array.
    package func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        switch self {
        case .text(var text): return try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        case .bytes(let bytes): return try bytes.withUnsafeBytes(body)
        }
    }
}

extension Payload: Equatable {
    package static func == (lhs: Payload, rhs: Payload) -> Bool {
        switch (lhs, rhs) {
        case (.text(let a), .text(let b)): return a == b
        default: return lhs.bytes == rhs.bytes
        }
    }
}
