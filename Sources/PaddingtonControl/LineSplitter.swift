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

    /// The lines completed by `buffer`, and the error of a line over the limit after them (the lines
    /// before it are still returned; nothing after it is read).
    mutating func append(_ buffer: ByteBuffer) -> (lines: [[UInt8]], tooLong: PaddingtonError?) {
        var lines: [[UInt8]] = []
        let limit = maxLineBytes
        let overLimit = PaddingtonError(.payloadTooLarge, "a control line is over \(limit) bytes")
        var failed = false
        buffer.withUnsafeReadableBytes { bytes in
            var start = 0
            for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
                pending += bytes[start..<index]
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                if pending.count > limit {
                    failed = true
                    return
                }
                lines.append(pending)
                pending.removeAll(keepingCapacity: true)
                start = index + 1
            }
            pending += bytes[start...]
            if pending.count > limit { failed = true }
        }
        if failed { pending.removeAll() }
        return (lines, failed ? overLimit : nil)
    }
}
