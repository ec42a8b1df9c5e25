import Foundation
import PaddingtonCrypto

/// One frame of the agent layer, carried inside a link's payload between two peers that both announced
/// agent frames (docs/agents.md): a plain message, a request, its reply, an error answering a request,
/// or a request's cancellation.
///
/// The binary form, version 1 (all integers big-endian):
/// ```
/// 0       version (1)
/// 1       kind: 0 message, 1 request, 2 reply, 3 error, 4 cancel
/// 2..<10  id (u64): 0 for a message, not 0 for the others
/// 10..<14 deadline (u32): milliseconds left, 1 ... 86 400 000 for a request, 0 otherwise
/// 14..<16 route length (u16), then the route in UTF-8: a request's route, an error's code, else empty
/// then    header count (u16), then for each: key length (u16), key, value length (u16), value (UTF-8)
/// rest    body
/// ```
/// Protocol 2 carries the bytes in a DATA frame; protocol 1 (text only) carries their base64.
package struct AgentFrame: Sendable, Equatable {
    package enum Kind: UInt8, Sendable, CustomStringConvertible {
        case message = 0
        case request = 1
        case reply = 2
        case error = 3
        case cancel = 4

        package var description: String {
            switch self {
            case .message: return "message"
            case .request: return "request"
            case .reply: return "reply"
            case .error: return "error"
            case .cancel: return "cancel"
            }
        }
    }

    /// The limits a decoder enforces (and an encoder's caller must respect).
    package enum Limits {
        package static let version: UInt8 = 1
        package static let maxRouteBytes = 255
        package static let maxHeaders = 64
        package static let maxHeaderKeyBytes = 255
        package static let maxHeaderValueBytes = 8192
        /// One day: a longer deadline is a mistake, not a plan.
        package static let maxDeadlineMilliseconds: UInt32 = 86_400_000
        /// The fixed part before the route.
        package static let fixedBytes = 16
    }

    package var kind: Kind
    package var id: UInt64
    /// A request's route; an error's code; empty otherwise.
    package var route: String
    /// Milliseconds left until a request's deadline; 0 for the other kinds.
    package var deadlineMilliseconds: UInt32
    package var headers: [String: String]
    package var body: [UInt8]

    package init(kind: Kind, id: UInt64, route: String = "", deadlineMilliseconds: UInt32 = 0, headers: [String: String] = [:], body: [UInt8] = []) {
        self.kind = kind
        self.id = id
        self.route = route
        self.deadlineMilliseconds = deadlineMilliseconds
        self.headers = headers
        self.body = body
    }

    /// A plain message: what `send` carries on a link with agent frames.
    package static func message(_ body: [UInt8]) -> AgentFrame { AgentFrame(kind: .message, id: 0, body: body) }

    // MARK: Encoding

    /// The bytes of the frame.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when a route or header is over its limit.
    package func encoded() throws -> [UInt8] {
        let route = Array(self.route.utf8)
        guard route.count <= Limits.maxRouteBytes else {
            throw PaddingtonError(.invalidArgument, "a route is at most \(Limits.maxRouteBytes) bytes; this one has \(route.count)")
        }
        guard headers.count <= Limits.maxHeaders else {
            throw PaddingtonError(.invalidArgument, "a frame carries at most \(Limits.maxHeaders) headers; this one has \(headers.count)")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Limits.fixedBytes + route.count + 2 + body.count + headers.count * 32)
        out.append(Limits.version)
        out.append(kind.rawValue)
        Self.append(id, to: &out)
        Self.append(deadlineMilliseconds, to: &out)
        Self.append(UInt16(route.count), to: &out)
        out += route
        Self.append(UInt16(headers.count), to: &out)
        // Sorted, so that one frame always has one encoding.
        for (key, value) in headers.sorted(by: { $0.key < $1.key }) {
            let key = Array(key.utf8), value = Array(value.utf8)
            guard !key.isEmpty, key.count <= Limits.maxHeaderKeyBytes else {
                throw PaddingtonError(.invalidArgument, "a header name is 1 to \(Limits.maxHeaderKeyBytes) bytes")
            }
            guard value.count <= Limits.maxHeaderValueBytes else {
                throw PaddingtonError(.invalidArgument, "the value of header '\(String(decoding: key, as: UTF8.self))' is over \(Limits.maxHeaderValueBytes) bytes")
            }
            Self.append(UInt16(key.count), to: &out)
            out += key
            Self.append(UInt16(value.count), to: &out)
            out += value
        }
        out += body
        return out
    }

    /// The frame as protocol 1 text: the base64 of ``encoded()``.
    package func encodedText() throws -> String {
        Data(try encoded()).base64EncodedString()
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { out += $0 }
    }

    // MARK: Decoding

    /// What a decoder found wrong, and the request id when the frame got that far (so the sender can be
    /// answered with an error).
    package struct DecodingFailure: Error, Sendable, CustomStringConvertible {
        package var reason: String
        /// The id of a request whose frame failed after its id was read; nil otherwise.
        package var requestID: UInt64?
        package var description: String { reason }
    }

    /// Decodes a payload received on a link with agent frames: bytes (protocol 2) or base64 text
    /// (protocol 1).
    package static func decode(_ payload: Payload) throws(DecodingFailure) -> AgentFrame {
        switch payload {
        case .bytes(let bytes):
            return try decode(bytes)
        case .text(let text):
            guard let data = Data(base64Encoded: text) else {
                throw DecodingFailure(reason: "a protocol 1 agent frame is not base64")
            }
            return try decode([UInt8](data))
        }
    }

    /// Decodes the binary form.
    package static func decode(_ bytes: [UInt8]) throws(DecodingFailure) -> AgentFrame {
        var reader = Reader(bytes: bytes)
        guard let version = reader.byte() else { throw DecodingFailure(reason: "an agent frame is empty") }
        guard version == Limits.version else {
            throw DecodingFailure(reason: "agent frame version \(version) is not supported (this peer speaks \(Limits.version))")
        }
        guard let kindByte = reader.byte() else { throw DecodingFailure(reason: "an agent frame ends before its kind") }
        guard let kind = Kind(rawValue: kindByte) else { throw DecodingFailure(reason: "unknown agent frame kind \(kindByte)") }
        guard let id = reader.integer(UInt64.self) else { throw DecodingFailure(reason: "a \(kind) frame ends before its id") }
        // From here on a request can be answered.
        let answerable: UInt64? = kind == .request && id != 0 ? id : nil
        func fail(_ reason: String) -> DecodingFailure { DecodingFailure(reason: reason, requestID: answerable) }
        guard let deadline = reader.integer(UInt32.self) else { throw fail("a \(kind) frame ends before its deadline") }
        switch kind {
        case .message:
            guard id == 0 else { throw fail("a message frame has id \(id); messages have id 0") }
        case .request, .reply, .error, .cancel:
            guard id != 0 else { throw fail("a \(kind) frame has id 0") }
        }
        if kind == .request {
            guard deadline != 0 else { throw fail("a request has no deadline") }
            guard deadline <= Limits.maxDeadlineMilliseconds else {
                throw fail("a request's deadline of \(deadline) ms is over the limit of \(Limits.maxDeadlineMilliseconds) ms (one day)")
            }
        } else if deadline != 0 {
            throw fail("a \(kind) frame carries a deadline; only requests do")
        }
        guard let routeCount = reader.integer(UInt16.self) else { throw fail("a \(kind) frame ends before its route") }
        guard routeCount <= Limits.maxRouteBytes else { throw fail("a route of \(routeCount) bytes is over the limit of \(Limits.maxRouteBytes)") }
        guard let routeBytes = reader.bytes(Int(routeCount)) else { throw fail("a \(kind) frame ends inside its route") }
        guard let route = String(validating: routeBytes, as: UTF8.self) else { throw fail("a route is not UTF-8") }
        switch kind {
        case .error:
            guard !route.isEmpty else { throw fail("an error frame has no code") }
        case .message, .reply, .cancel:
            guard route.isEmpty else { throw fail("a \(kind) frame carries a route") }
        case .request:
            break
        }
        guard let headerCount = reader.integer(UInt16.self) else { throw fail("a \(kind) frame ends before its headers") }
        guard headerCount <= Limits.maxHeaders else { throw fail("\(headerCount) headers are over the limit of \(Limits.maxHeaders)") }
        var headers: [String: String] = [:]
        for index in 0..<Int(headerCount) {
            guard let keyCount = reader.integer(UInt16.self), let keyBytes = reader.bytes(Int(keyCount)) else {
                throw fail("a \(kind) frame ends inside header \(index)")
            }
            guard keyCount > 0, keyCount <= Limits.maxHeaderKeyBytes else {
                throw fail("header \(index) has a name of \(keyCount) bytes (1 to \(Limits.maxHeaderKeyBytes))")
            }
            guard let valueCount = reader.integer(UInt16.self), let valueBytes = reader.bytes(Int(valueCount)) else {
                throw fail("a \(kind) frame ends inside header \(index)")
            }
            guard valueCount <= Limits.maxHeaderValueBytes else {
                throw fail("header \(index) has a value of \(valueCount) bytes, over the limit of \(Limits.maxHeaderValueBytes)")
            }
            guard let key = String(validating: keyBytes, as: UTF8.self), let value = String(validating: valueBytes, as: UTF8.self) else {
                throw fail("header \(index) is not UTF-8")
            }
            guard headers.updateValue(value, forKey: key) == nil else { throw fail("header '\(key)' appears twice") }
        }
        let body = reader.rest()
        if kind == .cancel, !body.isEmpty { throw fail("a cancel frame carries a body") }
        if kind == .message, body.isEmpty { throw fail("a message frame is empty (the protocol has no empty messages)") }
        return AgentFrame(kind: kind, id: id, route: route, deadlineMilliseconds: deadline, headers: headers, body: body)
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func byte() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            let size = MemoryLayout<T>.size
            guard bytes.count - offset >= size else { return nil }
            var value: T = 0
            for byte in bytes[offset..<(offset + size)] { value = value << 8 | T(byte) }
            offset += size
            return value
        }

        mutating func bytes(_ count: Int) -> ArraySlice<UInt8>? {
            guard bytes.count - offset >= count else { return nil }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        func rest() -> [UInt8] { Array(bytes[offset...]) }
    }
}
