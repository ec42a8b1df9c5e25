import NIOCore
import NIOWebSocket
import PaddingtonCrypto

/// Protocol 1, the Rust crate's wire format: each payload is a JSON string, double-encrypted with the
/// session keys and the connection's salts, hex-encoded into one text frame (docs/protocol.md).
///
/// It needs no state between frames, so ``prepare(_:maxFrameSize:allocator:)`` seals on the caller's
/// task and several senders seal at once. The payload `KEEPALIVE` is the protocol's keepalive: it is
/// reserved, never sent as data and never delivered.
///
/// Between two peers of ours that both announced agent frames in the handshake (`"agent":1` in
/// `Handshake`; the Rust crate ignores the field and never sends it), every payload is an agent frame,
/// carried as its base64 text: plain payloads as message frames, so that no payload is ever read as
/// anything but what its sender meant.
package struct ProtocolOneCodec: LinkCodec {
    /// The reserved payload that keeps links alive.
    package static let keepalivePayload = "KEEPALIVE"

    /// `(SK_in, SK_out)` of the session.
    package let keys: EnvelopeKeys
    /// `(Sin, Sout)` of the connection.
    package let salts: ConnectionSalts
    /// The link's key schedule: each layer's HKDF extract done once, so a frame costs the expands.
    private let cipher: EnvelopeCipher
    /// Whether both sides announced agent frames: fixed by the handshake.
    package let agentFrames: Bool

    package init(keys: EnvelopeKeys, salts: ConnectionSalts, agentFrames: Bool = false) {
        self.keys = keys
        self.salts = salts
        self.agentFrames = agentFrames
        cipher = EnvelopeCipher(keys: keys, salts: salts)
    }

    package var protocolVersion: Int { 1 }

    package var agentSupport: AgentSupport { agentFrames ? .supported : .unsupported }

    package func prepare(_ payload: Payload, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame {
        if agentFrames {
            guard !payload.isEmpty else {
                throw PaddingtonError(.invalidArgument, "an empty payload cannot be sent (the protocol has no empty messages)")
            }
            return try prepareAgent(.message(payload.bytes), maxFrameSize: maxFrameSize, allocator: allocator)
        }
        let text: String
        switch payload {
        case .text(let value):
            text = value
        case .bytes(let bytes):
            guard let value = String(validating: bytes, as: UTF8.self) else {
                throw PaddingtonError(.invalidArgument,
                    "this link speaks protocol 1 (the Rust wire format), which carries text only, and the payload is not UTF-8")
            }
            text = value
        }
        guard !text.isEmpty else {
            throw PaddingtonError(.invalidArgument, "an empty payload cannot be sent (the protocol has no empty messages)")
        }
        guard text != Self.keepalivePayload else {
            throw PaddingtonError(.invalidArgument, "the payload 'KEEPALIVE' is reserved by the protocol")
        }
        return try seal(text, maxFrameSize: maxFrameSize, allocator: allocator)
    }

    package func prepareAgent(_ frame: AgentFrame, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame {
        guard agentFrames else {
            throw PaddingtonError(.unsupportedByPeer, "this peer did not announce agent frames")
        }
        return try seal(try frame.encodedText(), maxFrameSize: maxFrameSize, allocator: allocator)
    }

    package func openingFrames(allocator: ByteBufferAllocator) -> [PreparedFrame] { [] }

    package func prepareKeepalive(allocator: ByteBufferAllocator) -> PreparedFrame {
        // Always within any frame limit the link accepts (the smallest is far larger).
        (try? seal(Self.keepalivePayload, maxFrameSize: .max, allocator: allocator))
            ?? PreparedFrame(size: 0, content: .sealed(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer())))
    }

    private func seal(_ text: String, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame {
        let json = JSONString.encode(text)
        let count = EnvelopeCipher.frameCount(jsonCount: json.count)
        guard count <= maxFrameSize else {
            throw PaddingtonError(.payloadTooLarge,
                "a payload of \(json.count) JSON bytes makes a \(count)-byte frame, over the limit of \(maxFrameSize)")
        }
        var buffer = allocator.buffer(capacity: count)
        json.withUnsafeBytes { json in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { space in
                cipher.seal(json: json, into: UnsafeMutableRawBufferPointer(rebasing: space[0..<count]))
                return count
            }
        }
        return PreparedFrame(size: count, content: .sealed(WebSocketFrame(fin: true, opcode: .text, data: buffer)))
    }

    package func emit(_ frame: PreparedFrame, write: (WebSocketFrame) -> Void) throws {
        switch frame.content {
        case .sealed(let sealed):
            write(sealed)
        case .deferred:
            throw PaddingtonError(.protocolViolation, "a protocol 1 link was handed a frame it did not prepare")
        }
    }

    package func open(_ frame: WebSocketFrame) throws -> InboundFrame {
        guard frame.opcode == .text else {
            throw PaddingtonError(.protocolViolation, "the peer sent a \(frame.opcode) frame; the protocol uses text frames only")
        }
        let json = try frame.data.withUnsafeReadableBytes { try cipher.open($0) }
        let text: String
        do {
            text = try json.withUnsafeBytes { try JSONString.decode($0) }
        } catch let error as PaddingtonError {
            throw PaddingtonError(.invalidJSON, "a frame decrypted but its payload is not a JSON string: \(error.message)")
        }
        if text == Self.keepalivePayload { return .keepalive }
        return agentFrames ? .agent(.text(text)) : .message(.text(text))
    }
}
