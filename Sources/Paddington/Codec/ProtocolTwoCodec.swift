import NIOCore
import NIOWebSocket
import PaddingtonCrypto
import NIOConcurrencyHelpers

/// Protocol 2 (paddington-v2 §6): each message is one binary frame, `ChaCha20-Poly1305(k, n, T ‖ body)`
/// with a counter nonce per direction and in-band rekeying. DATA frames carry the payload's bytes;
/// CONTROL frames carry the protocol's own JSON messages, of which only `Keepalive` (and unknown
/// variants, ignored) may appear once the session runs.
///
/// Frames must be sealed in the order they are written: ``emit(_:write:)`` seals and writes under the
/// sending half's lock. Opening happens on the read loop, under the receiving half's lock (never
/// contended). The two halves never share state.
///
/// **Agent frames** (docs/agents.md) ride on the extension point the protocol leaves, CONTROL variants
/// unknown to a peer are ignored: each of our peers sends CONTROL `{"Agent":{"version":1}}` as its first
/// frame of the session ("I take agent frames"). A side that receives the peer's `Agent` sends CONTROL
/// `{"AgentFrames":{}}` and from that frame on every DATA frame it sends is an agent frame; the receiver
/// reads DATA frames after the peer's `AgentFrames` as agent frames and the ones before as plain
/// payloads. The switch happens under the sending lock, in wire order, so no payload is read as what
/// its sender did not mean. A peer whose first frame is not `Agent` (any other implementation of the
/// document) never receives an agent frame.
///
/// The halves are guarded by `NIOLock` (a pthread mutex) rather than `Synchronization.Mutex`: the
/// thread sanitizer does not see `Mutex`'s ordering on Linux and reports its accesses as races.
final class ProtocolTwoCodec: LinkCodec, @unchecked Sendable {
    // Guarded by `sendingLock`.
    private var sealer: ProtocolTwo.FrameSealer
    private var keySince: ContinuousClock.Instant
    private let sendingLock = NIOLock()
    // Guarded by `receivingLock`.
    private var opener: ProtocolTwo.FrameOpener
    private let receivingLock = NIOLock()
    /// Whether DATA frames from here are agent frames (after ``startAgentFramesKind`` was sealed).
    private var sendsAgentFrames = false
    /// The fixed part of a plain message's agent frame (version 1, kind message, id 0, no deadline, no
    /// route, no headers): what a payload is preceded by once agent frames are on.
    static let messageHeader: [UInt8] = [AgentFrame.Limits.version, AgentFrame.Kind.message.rawValue] + [UInt8](repeating: 0, count: 16)
    // Guarded by `receivingLock`: whether the peer's DATA frames are agent frames, and whether its first
    // frame of the session has been seen.
    private var receivesAgentFrames = false
    private var sawFirstFrame = false
    private let support = NIOLockedValueBox(AgentSupport.undecided)
    private let rekey: ProtocolTwo.RekeyPolicy
    /// The `deferred` kind of the `AgentFrames` CONTROL frame, which switches this side's DATA frames to
    /// agent frames when it is sealed (never on the wire: the frame is CONTROL).
    static let startAgentFramesKind: UInt8 = 0x7F
    /// The bytes an agent message frame adds to a payload.
    static var agentMessageOverhead: Int { messageHeader.count }
    /// Noise's handshake hash: equal on both sides, usable as a channel binding.
    let handshakeHash: [UInt8]

    /// Whether this side takes agent frames (and says so in its first frame).
    let announcesAgentFrames: Bool

    init(session: consuming ProtocolTwo.Session, rekey: ProtocolTwo.RekeyPolicy, announcesAgentFrames: Bool = true) {
        self.announcesAgentFrames = announcesAgentFrames
        if !announcesAgentFrames { support.withLockedValue { $0 = .unsupported } }
        handshakeHash = session.handshakeHash
        sealer = session.sealer
        keySince = .now
        opener = session.opener
        self.rekey = rekey
    }

    var protocolVersion: Int { 2 }

    var agentSupport: AgentSupport { support.withLockedValue { $0 } }

    /// Presumes the peer takes no agent frames without waiting for its first frame (its engine is not
    /// ours, so requests to it fail at once). An `Agent` announcement as its first frame still counts.
    func presumeNoAgentFrames() {
        support.withLockedValue { if $0 == .undecided { $0 = .unsupported } }
    }

    // MARK: Sending

    func prepare(_ payload: Payload, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame {
        let body = payload
        guard !body.isEmpty else {
            throw PaddingtonError(.invalidArgument, "an empty payload cannot be sent (the protocol has no empty messages)")
        }
        // Counted as an agent message when it may become one (this side takes agent frames, so the peer
        // may yet announce them): the budget and the limit hold either way.
        let wrapped = announcesAgentFrames
        let count = ProtocolTwo.frameCount(bodyCount: body.count + (wrapped ? Self.agentMessageOverhead : 0))
        guard count <= maxFrameSize else {
            throw PaddingtonError(.payloadTooLarge,
                "a payload of \(body.count) bytes makes a \(count)-byte frame, over the limit of \(maxFrameSize)")
        }
        return PreparedFrame(size: count, content: .deferred(kind: ProtocolTwo.FrameType.data.rawValue, body: body, application: true))
    }

    func prepareAgent(_ frame: AgentFrame, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame {
        guard agentSupport == .supported else {
            throw PaddingtonError(.unsupportedByPeer, "this peer did not announce agent frames")
        }
        let body = try frame.encoded()
        let count = ProtocolTwo.frameCount(bodyCount: body.count)
        guard count <= maxFrameSize else {
            throw PaddingtonError(.payloadTooLarge,
                "an agent frame with a body of \(frame.body.count) bytes makes a \(count)-byte frame, over the limit of \(maxFrameSize)")
        }
        return PreparedFrame(size: count, content: .deferred(kind: ProtocolTwo.FrameType.data.rawValue, body: .bytes(body)))
    }

    /// The `AgentFrames` CONTROL frame; DATA frames sealed after it are agent frames.
    func prepareAgentFramesStart() -> PreparedFrame {
        let body = ControlMessage.agentFrames.json()
        return PreparedFrame(size: ProtocolTwo.frameCount(bodyCount: body.count), content: .deferred(kind: Self.startAgentFramesKind, body: .bytes(body)))
    }

    func prepareKeepalive(allocator: ByteBufferAllocator) -> PreparedFrame {
        control(.keepalive)
    }

    func openingFrames(allocator: ByteBufferAllocator) -> [PreparedFrame] {
        announcesAgentFrames ? [control(.agent)] : []
    }

    /// A CONTROL frame, prepared.
    func control(_ message: ControlMessage) -> PreparedFrame {
        let body = message.json()
        return PreparedFrame(
            size: ProtocolTwo.frameCount(bodyCount: body.count),
            content: .deferred(kind: ProtocolTwo.FrameType.control.rawValue, body: .bytes(body)))
    }

    func emit(_ frame: PreparedFrame, write: (WebSocketFrame) -> Void) throws {
        guard case .deferred(let kind, let body, let application) = frame.content,
              let type = kind == Self.startAgentFramesKind ? .control : ProtocolTwo.FrameType(rawValue: kind) else {
            throw PaddingtonError(.protocolViolation, "a protocol 2 link was handed a frame it did not prepare")
        }
        let rekey = self.rekey
        try sendingLock.withLock {
            if kind == Self.startAgentFramesKind {
                // Once: a second start would be a second, meaningless control frame.
                guard !sendsAgentFrames else { return }
                sendsAgentFrames = true
            }
            // A payload after this side's `AgentFrames` goes out as a message frame: the frame's fixed
            // header is written into the buffer ahead of the payload, which is then sealed in place (no
            // copy of the payload beyond the one into the buffer).
            let header: [UInt8] = application && sendsAgentFrames ? Self.messageHeader : []
            let bodyCount = header.count + body.count
            let now = ContinuousClock.now
            let last = sealer.isRekeyDue(rekey, bodyCount: bodyCount, sinceRekey: now - keySince)
            let frameCount = ProtocolTwo.frameCount(bodyCount: bodyCount)
            var buffer = ByteBufferAllocator().buffer(capacity: frameCount)
            _ = try body.withUnsafeBytes { body in
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: frameCount) { space in
                    let output = UnsafeMutableRawBufferPointer(rebasing: space[0..<frameCount])
                    if header.isEmpty {
                        try sealer.seal(type, body: body, isLastUnderKey: last, into: output)
                    } else {
                        header.withUnsafeBytes { output.baseAddress!.advanced(by: 1).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                        if let source = body.baseAddress, !body.isEmpty {
                            output.baseAddress!.advanced(by: 1 + header.count).copyMemory(from: source, byteCount: body.count)
                        }
                        try sealer.seal(inPlace: output, type: type, isLastUnderKey: last)
                    }
                    return output.count
                }
            }
            if last { keySince = now }
            write(WebSocketFrame(fin: true, opcode: .binary, data: buffer))
            // Settled once the marker is sealed and queued: an agent frame sealed from now on follows it.
            if kind == Self.startAgentFramesKind { support.withLockedValue { $0 = .supported } }
        }
    }

    /// Seals one frame into bytes (for the handshake, which writes through the async channel).
    func sealControl(_ message: ControlMessage) throws -> ByteBuffer {
        var sealed: ByteBuffer?
        try emit(control(message)) { sealed = $0.data }
        guard let sealed else { throw PaddingtonError(.protocolViolation, "a CONTROL frame could not be sealed") }
        return sealed
    }

    // MARK: Receiving

    func open(_ frame: WebSocketFrame) throws -> InboundFrame {
        let (type, body) = try openFrame(frame)
        // Only the read loop opens frames, one at a time.
        let (first, agentData) = receivingLock.withLock { () -> (Bool, Bool) in
            defer { sawFirstFrame = true }
            return (!sawFirstFrame, receivesAgentFrames)
        }
        switch type {
        case .data:
            if first { settle(.unsupported) }
            guard agentData else { return .message(.bytes(body)) }
            // The common case, a plain message with nothing but the fixed header: its payload at once.
            // Anything else (or an empty message, which is malformed) goes to the agent layer's decoder.
            let header = Self.messageHeader
            if body.count > header.count, body.prefix(header.count).elementsEqual(header) {
                var payload = body
                payload.removeFirst(header.count)
                return .message(.bytes(payload))
            }
            return .agent(.bytes(body))
        case .control:
            let message = try ControlMessage.decode(body)
            if first, message != .agent { settle(.unsupported) }
            switch message {
            case .agent:
                // Only as the first frame; later, support is already settled (and stays as it is). A side
                // that does not announce agent frames reads it as the unknown variant it is to others.
                // Support is settled when this side's `AgentFrames` is sealed (in `emit`), so that no
                // agent frame can be sealed before it.
                guard first, announcesAgentFrames else { return .ignored }
                return .peerTakesAgentFrames
            case .agentFrames:
                // Only a side that takes agent frames reads them; to another it is an unknown variant.
                if announcesAgentFrames { receivingLock.withLock { receivesAgentFrames = true } }
                return .ignored
            case .keepalive:
                return .keepalive
            case .unknown:
                return .ignored
            case let message:
                throw PaddingtonError(.protocolViolation, "the peer sent \(message.name) after the session started")
            }
        }
    }

    private func settle(_ value: AgentSupport) {
        support.withLockedValue { if $0 == .undecided { $0 = value } }
    }

    /// Opens a CONTROL frame of the handshake's session start (the bytes of a binary frame).
    ///
    /// - Throws: as ``open(_:)``, and `PaddingtonError.Code.protocolViolation` for a DATA frame.
    func openControl(_ frame: [UInt8]) throws -> ControlMessage {
        let (type, body) = try openFrame(frame)
        guard type == .control else {
            throw PaddingtonError(.protocolViolation, "the peer sent DATA before the session started")
        }
        return try ControlMessage.decode(body)
    }

    private func openFrame(_ frame: WebSocketFrame) throws -> (ProtocolTwo.FrameType, [UInt8]) {
        guard frame.opcode == .binary else {
            throw PaddingtonError(.protocolViolation, "the peer sent a \(frame.opcode) frame; protocol 2 uses binary frames only")
        }
        // Opened from the frame's bytes straight into the array that becomes the body (T ‖ body, then
        // T dropped in place): one allocation and no copy of the ciphertext.
        let plaintextCount = frame.data.readableBytes - Sodium.chachaTagBytes
        guard plaintextCount > 0 else {
            // Too short for a frame: the opener says so precisely (and becomes unusable).
            return try openFrame(Array(buffer: frame.data))
        }
        var opened: ProtocolTwo.OpenedFrame?
        var plaintext = try [UInt8](unsafeUninitializedCapacity: plaintextCount) { output, initialized in
            let result = try frame.data.withUnsafeReadableBytes { sealed in
                try receivingLock.withLock { try opener.open(sealed, into: UnsafeMutableRawBufferPointer(output)) }
            }
            initialized = plaintextCount
            opened = result
        }
        guard let opened else { throw PaddingtonError(.protocolViolation, "a frame opened without a result") }
        plaintext.removeFirst(opened.body.lowerBound)
        return (opened.type, plaintext)
    }

    private func openFrame(_ frame: [UInt8]) throws -> (ProtocolTwo.FrameType, [UInt8]) {
        var bytes = frame
        let opened = try receivingLock.withLock { try opener.open(&bytes) }
        return (opened.type, Array(bytes[opened.body]))
    }
}
