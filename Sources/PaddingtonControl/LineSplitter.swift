import NIOCore
import Paddington

/// Splits a byte stream into lines (`\n`, with an optional `\r` before it), refusing a line longer
/// than `maxLineBytes`.
struct LineSplitter {
    let maxLineBytes: Int
    private var pending: [UInt8] = []

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// The lines completed by `buffer`.
    ///
    /// - Throws: `PaddingtonError.Code.payloadTooLarge` for a line over the limit.
    mutating func append(_ buffer: ByteBuffer) throws -> [[UInt8]] {
        var lines: [[UInt8]] = []
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
                pending += bytes[start..<index]
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                lines.append(pending)
                pending.removeAll(keepingCapacity: true)
                start = index + 1
            }
            pending += bytes[start...]
        }
        if pending.count > maxLineBytes || lines.contains(where: { $0.count > maxLineBytes }) {
            throw PaddingtonError(.payloadTooLarge, "a control line is over \(maxLineBytes) bytes")
        }
        return lines
    }
}
