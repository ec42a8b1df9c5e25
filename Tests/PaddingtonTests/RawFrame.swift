/// One WebSocket frame parsed from raw bytes, masked (a client's) or not (a server's), with the
/// exact bytes it took on the wire so that an attacker can replay it.
struct RawFrame: Equatable {
    /// Bits 0–3 of the first byte.
    let opcode: UInt8
    /// The payload, unmasked.
    let payload: [UInt8]
    /// The frame as it was on the wire (header, mask and masked payload).
    let wire: [UInt8]

    static let text: UInt8 = 0x1
    static let binary: UInt8 = 0x2
    static let close: UInt8 = 0x8
    static let ping: UInt8 = 0x9
    static let pong: UInt8 = 0xA

    /// The first frame at the start of `bytes`, or nil when it is not complete yet.
    static func parse(_ bytes: ArraySlice<UInt8>) -> RawFrame? {
        let start = bytes.startIndex
        guard bytes.count >= 2 else { return nil }
        let masked = bytes[start + 1] & 0x80 != 0
        var length = Int(bytes[start + 1] & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = Int(bytes[start + 2]) << 8 | Int(bytes[start + 3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = bytes[(start + 2)..<(start + 10)].reduce(0) { $0 << 8 | Int($1) }
            offset = 10
        }
        let mask: [UInt8] = masked && bytes.count >= offset + 4 ? Array(bytes[(start + offset)..<(start + offset + 4)]) : []
        if masked {
            guard mask.count == 4 else { return nil }
            offset += 4
        }
        guard length >= 0, bytes.count >= offset + length else { return nil }
        let body = bytes[(start + offset)..<(start + offset + length)]
        let payload = masked ? body.enumerated().map { $0.element ^ mask[$0.offset % 4] } : Array(body)
        return RawFrame(opcode: bytes[start] & 0x0F, payload: payload, wire: Array(bytes[start..<(start + offset + length)]))
    }

    /// Every complete frame in `bytes`, in order.
    static func parseAll(_ bytes: ArraySlice<UInt8>) -> [RawFrame] {
        var frames: [RawFrame] = []
        var rest = bytes
        while let frame = parse(rest) {
            frames.append(frame)
            rest = rest.dropFirst(frame.wire.count)
        }
        return frames
    }

    /// The status code of a Close frame, if it carries one.
    var closeStatus: UInt16? {
        guard opcode == Self.close, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }
}
