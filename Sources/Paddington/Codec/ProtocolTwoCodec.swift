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
    private let rekey: ProtocolTwo.RekeyPolicy
    /// Noise's handshake hash: equal on both sides, usable as a channel binding.
    let handshakeHash: [UInt8]

    init(session: consuming ProtocolTwo.Session, rekey: ProtocolTwo.RekeyPolicy) {
        handshakeHash = session.handshakeHash
        sealer = session.sealer
        keySince = .now
        opener = session.opener
        self.rekey = rekey
    }

    var protocolVersion: Int { 2 }

    // MARK: Sending

    func prepare(_ payload: Payload, maxFrameSize: Int, allocator: ByteBufferAllocator) throws -> PreparedFrame {
        let body = payload
        guard !body.isEmpty else {
            throw PaddingtonError(.invalidArgument, "an empty payload cannot be sent (the protocol has no empty messages)")
        }
        let count = ProtocolTwo.frameCount(bodyCount: body.count)
        guard count <= maxFrameSize else {
            throw PaddingtonError(.payloadTooLarge,
                "a payload of \(body.count) bytes makes a \(count)-byte frame, over the limit of \(maxFrameSize)")
        }
        return PreparedFrame(size: count, content: .deferred(kind: ProtocolTwo.FrameType.data.rawValue, body: body))
    }

    func prepareKeepalive(allocator: ByteBufferAllocator) -> PreparedFrame {
        control(.keepalive)
    }

    /// A CONTROL frame, prepared.
    func control(_ message: ControlMessage) -> PreparedFrame {
        let body = message.json()
        return PreparedFrame(
            size: ProtocolTwo.frameCount(bodyCount: body.count),
            content: .deferred(kind: ProtocolTwo.FrameType.control.rawValue, body: .bytes(body)))
    }

    func emit(_ frame: PreparedFrame, write: (WebSocketFrame) -> Void) throws {
        guard case .deferred(let kind, let body) = frame.content, let type = ProtocolTwo.FrameType(rawValue: kind) else {
            throw PaddingtonError(.protocolViolation, "a protocol 2 link was handed a frame it did not prepare")
        }
        let rekey = self.rekey
        try sendingLock.withLock {
            let now = ContinuousClock.now
            let last = sealer.isRekeyDue(rekey, bodyCount: body.count, sinceRekey: now - keySince)
            var buffer = ByteBufferAllocator().buffer(capacity: ProtocolTwo.frameCount(bodyCount: body.count))
            _ = try body.withUnsafeBytes { body in
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: ProtocolTwo.frameCount(bodyCount: body.count)) { space in
                    let output = UnsafeMutableRawBufferPointer(rebasing: space[0..<ProtocolTwo.frameCount(bodyCount: body.count)])
                    try sealer.seal(type, body: body, isLastUnderKey: last, into: output)
                    return output.count
                }
            }
            if last { keySince = now }
            write(WebSocketFrame(fin: true, opcode: .binary, data: buffer))
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
        switch type {
        case .data:
            return .message(.bytes(body))
        case .control:
            switch try ControlMessage.decode(body) {
            case .keepalive:
                return .keepalive
            case .unknown:
                return .ignored
            case let message:
                throw PaddingtonError(.protocolViolation, "the peer sent \(message.name) after the session started")
            }
        }
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
