import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// One established, authenticated link to a peer: seals payloads into frames and writes them.
///
/// ``send(_:)`` returns when the frame has been written to the socket (the write's promise), so a
/// send that returned is not lost to a close that follows it. While the socket is not writable the
/// write waits in NIO's buffer: a slow peer makes senders wait instead of growing a queue.
final class PeerConnection: Sendable {
    /// The reserved payload that keeps links alive; never delivered to handlers, never sent as data.
    static let keepalivePayload = "KEEPALIVE"

    let id: PeerID
    let info: PeerInfo
    private let keys: EnvelopeKeys
    private let salts: ConnectionSalts
    private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
    private let channel: any Channel
    private let maxFrameSize: Int
    private let activity: NIOLockedValueBox<(sent: NIODeadline, received: NIODeadline)>
    private let closing = NIOLockedValueBox<PaddingtonError?>(nil)

    init(session: EstablishedSession, outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>, channel: any Channel, maxFrameSize: Int) {
        id = PeerID(name: session.peerName, zone: session.zone)
        info = PeerInfo(id: id, engine: session.peerEngine, version: session.peerVersion, weDialled: session.role == .client)
        keys = session.keys
        salts = session.salts
        self.outbound = outbound
        self.channel = channel
        self.maxFrameSize = maxFrameSize
        activity = NIOLockedValueBox((.now(), .now()))
    }

    var remoteAddress: String { channel.remoteAddress?.description ?? "unknown" }

    /// Seals and writes one payload. Returns when the frame is handed to the connection.
    func send(_ payload: String) async throws {
        guard !payload.isEmpty else {
            throw PaddingtonError(.invalidArgument, "an empty payload cannot be sent (the protocol has no empty messages)")
        }
        guard payload != Self.keepalivePayload else {
            throw PaddingtonError(.invalidArgument, "the payload 'KEEPALIVE' is reserved by the protocol")
        }
        try await write(payload)
    }

    /// Sends the `KEEPALIVE` payload, and a WebSocket Ping when `ping` is set.
    func sendKeepalive(ping: Bool) async throws {
        try await write(Self.keepalivePayload)
        if ping {
            try? await outbound.write(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()))
        }
    }

    /// Whether liveness pings may go to this peer. A Rust server hands every Ping to its session
    /// loop, which logs a de-enveloping error for each; its clients skip them silently.
    var acceptsPings: Bool {
        !(info.weDialled && info.engine == "paddington")
    }

    private func write(_ payload: String) async throws {
        if let reason = closing.withLockedValue({ $0 }) {
            throw PaddingtonError(.connectionClosed, "the link to \(id) is closing: \(reason.message)")
        }
        let json = JSONString.encode(payload)
        let count = Envelope.frameCount(jsonCount: json.count)
        guard count <= maxFrameSize else {
            throw PaddingtonError(.payloadTooLarge,
                "a payload of \(json.count) JSON bytes makes a \(count)-byte frame, over the limit of \(maxFrameSize)")
        }
        var buffer = channel.allocator.buffer(capacity: count)
        json.withUnsafeBytes { json in
            _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { space in
                Envelope.seal(json, keys: keys, salts: salts, into: UnsafeMutableRawBufferPointer(rebasing: space[0..<count]))
                return count
            }
        }
        do {
            try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer))
        } catch {
            throw PaddingtonError(.connectionClosed, "the link to \(id) closed before the frame was handed over", cause: error)
        }
        activity.withLockedValue { $0.sent = .now() }
    }

    /// Opens a received text frame and returns its payload.
    func open(_ frame: ByteBuffer) throws -> String {
        let json = try frame.withUnsafeReadableBytes { try Envelope.open($0, keys: keys, salts: salts) }
        do {
            return try json.withUnsafeBytes { try JSONString.decode($0) }
        } catch let error as PaddingtonError {
            throw PaddingtonError(.invalidJSON, "a frame from \(id) decrypted but its payload is not a JSON string: \(error.message)")
        }
    }

    func markReceived() {
        activity.withLockedValue { $0.received = .now() }
    }

    var lastActivity: (sent: NIODeadline, received: NIODeadline) {
        activity.withLockedValue { $0 }
    }

    var closeReason: PaddingtonError? { closing.withLockedValue { $0 } }

    /// How long a closing link waits for the peer's Close before it shuts the socket.
    static let closeHandshakeTimeout: TimeAmount = .seconds(2)

    /// Starts the closing handshake: a Close frame after every frame already handed over. The link
    /// keeps reading (and delivering) until the peer's Close arrives, so nothing the peer sent before
    /// it is dropped; the socket is shut after ``closeHandshakeTimeout`` at the latest.
    func close(reason: PaddingtonError) {
        let first = closing.withLockedValue { value -> Bool in
            guard value == nil else { return false }
            value = reason
            return true
        }
        guard first else { return }
        let channel = self.channel
        var code = ByteBuffer()
        code.write(webSocketErrorCode: reason.code == .shutdown ? .goingAway : .normalClosure)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: code)).whenComplete { _ in
            channel.eventLoop.scheduleTask(in: Self.closeHandshakeTimeout) { channel.close(promise: nil) }
        }
    }

    /// Records why the link is ending without acting on it (the peer started the closing handshake;
    /// the control handler answers it and shuts the socket).
    func markClosing(reason: PaddingtonError) {
        closing.withLockedValue { if $0 == nil { $0 = reason } }
    }

    /// Closes the socket at once.
    func abort(reason: PaddingtonError) {
        closing.withLockedValue { if $0 == nil { $0 = reason } }
        channel.close(promise: nil)
    }
}
