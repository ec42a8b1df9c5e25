import NIOCore
import NIOWebSocket

/// Turns payloads into WebSocket frames and back for one established link.
///
/// The handshake makes one for the link it establishes (``ProtocolOneCodec`` for the Rust wire format);
/// the link calls nothing else to seal or open. Keepalives and any other frame the library exchanges
/// for itself are the codec's business: ``open(_:)`` reports them as ``InboundFrame/keepalive`` or
/// ``InboundFrame/ignored`` and they never reach the pipeline.
///
/// Sending happens in two steps so that the link can take its send budget in between:
/// ``prepare(_:maxFrameSize:allocator:)`` checks a payload and fixes its size on the wire (a codec
/// whose frames need no state may seal it there, on the caller's task); ``emit(_:write:)`` then hands
/// the frame to the channel. The link calls ``emit(_:write:)`` in the order frames must reach the wire,
/// so a codec that numbers its frames seals there, under its own lock, and writes before it lets go.
/// ``open(_:)`` is called from the link's read loop only, one frame at a time, in the order received.
package protocol LinkCodec: Sendable {
    /// The wire protocol this codec speaks: 1 (the Rust format) or 2.
    var protocolVersion: Int { get }

    /// Checks a payload and prepares its frame.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` for a payload the protocol cannot
    ///   carry, `PaddingtonError.Code.payloadTooLarge` when its frame would exceed
    ///   `maxFrameSize`.
    func prepare(_ payload: Payload, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame

    /// Checks an agent frame and prepares it: for a peer that announced agent frames only.
    ///
    /// - Throws: `PaddingtonError.Code.unsupportedByPeer` when the peer did not announce them;
    ///   otherwise as ``prepare(_:maxFrameSize:allocator:)``.
    func prepareAgent(_ frame: AgentFrame, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame

    /// Whether the peer takes agent frames: known from the handshake (protocol 1), or from the peer's
    /// first frame of the session (protocol 2).
    var agentSupport: AgentSupport { get }

    /// Frames the link sends first, before anything else (protocol 2's `Agent` announcement).
    func openingFrames(allocator: ByteBufferAllocator) -> [PreparedFrame]

    /// The keepalive frame of this protocol, prepared.
    func prepareKeepalive(allocator: ByteBufferAllocator) -> PreparedFrame

    /// Hands a prepared frame to `write`, in wire order.
    func emit(_ frame: PreparedFrame, write: (WebSocketFrame) -> Void) throws

    /// Opens one received text or binary frame.
    ///
    /// - Throws: a ``PaddingtonError`` that closes the link: a frame of the wrong type
    ///   (`PaddingtonError.Code.protocolViolation`), one that does not decode
    ///   (`PaddingtonError.Code.malformedFrame`), does not verify
    ///   (`PaddingtonError.Code.decryptionFailed`) or carries the wrong content
    ///   (`PaddingtonError.Code.invalidJSON`).
    func open(_ frame: WebSocketFrame) throws -> InboundFrame
}

/// A frame a codec has prepared and the link has not yet written.
package struct PreparedFrame: Sendable {
    package enum Content: Sendable {
        /// Sealed already; write as it is.
        case sealed(WebSocketFrame)
        /// Sealed by the codec in ``LinkCodec/emit(_:write:)``: a kind byte the codec defines and the body.
        /// An `application` payload becomes an agent message frame if the codec has started sending agent
        /// frames by the time it is sealed (protocol 2 decides that in the middle of the stream).
        case deferred(kind: UInt8, body: Payload, application: Bool = false)
    }

    /// The bytes the frame takes on the wire (its payload), counted against the send budget.
    package var size: Int
    package var content: Content

    package init(size: Int, content: Content) {
        self.size = size
        self.content = content
    }
}

/// What a received frame was, once its codec opened it.
package enum InboundFrame: Sendable, Equatable {
    /// An application payload, for the pipeline.
    case message(Payload)
    /// An agent frame, not yet decoded (bytes on protocol 2, base64 text on protocol 1).
    case agent(Payload)
    /// The peer announced that it takes agent frames (protocol 2's CONTROL `Agent`).
    case peerTakesAgentFrames
    /// Liveness only.
    case keepalive
    /// Something the protocol says to ignore.
    case ignored
}

/// Whether a link's peer takes agent frames.
package enum AgentSupport: Sendable, Equatable {
    /// Not known yet: a protocol 2 link before the peer's first frame of the session.
    case undecided
    case supported
    case unsupported
}
