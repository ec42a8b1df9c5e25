import NIOCore
import NIOWebSocket
import PaddingtonCrypto

/// One established, authenticated link to a peer: what the handshake produced (the peer's identity and
/// the codec) on top of the connection's ``LinkController`` (budget, liveness, closing).
///
/// ``send(_:)`` prepares the payload with the codec on the caller's task, takes its share of the send
/// budget (waiting while it is spent), and hands the frame to the channel in wire order; it returns
/// without waiting for the event loop. What "accepted" guarantees, and how closing keeps it, is
/// described on ``LinkStateMachine``.
final class Link: Sendable {
    let id: PeerID
    let info: PeerInfo
    let codec: any LinkCodec
    let controller: LinkController
    private let maxFrameSize: Int

    var channel: any Channel { controller.channel }

    init(session: EstablishedSession, controller: LinkController, maxFrameSize: Int) {
        id = PeerID(name: session.peerName, zone: session.zone)
        info = PeerInfo(
            id: id, engine: session.peerEngine, version: session.peerVersion, weDialled: session.role == .client,
            protocolVersion: session.codec.protocolVersion)
        codec = session.codec
        self.controller = controller
        self.maxFrameSize = maxFrameSize
        let acceptsPings = info.acceptsPings
        controller.established { [weak self] in
            try? self?.sendKeepalive(ping: acceptsPings)
        }
    }

    /// Prepares and hands over one payload. Returns once the link has accepted the frame.
    func send(_ payload: Payload) async throws {
        let frame = try codec.prepare(payload, maxFrameSize: maxFrameSize, allocator: channel.allocator)
        try await controller.reserve(frame.size, wait: true)
        emit(frame)
    }

    /// Sends the protocol's keepalive, and a WebSocket Ping when `ping` is set. Keepalives do not wait
    /// for budget behind application frames.
    func sendKeepalive(ping: Bool) throws {
        let frame = codec.prepareKeepalive(allocator: channel.allocator)
        try controller.reserveNow(frame.size)
        emit(frame)
        if ping {
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()), promise: nil)
        }
    }

    /// Hands a prepared frame to the channel. Every frame of a link goes through the event loop's task
    /// queue, in the order the codec seals them, even when the caller runs on the event loop (a
    /// keepalive from the timer): a frame written inline there would overtake frames other threads
    /// queued before it, and protocol 2's peer opens frames strictly in the order they were sealed.
    private func emit(_ frame: PreparedFrame) {
        let channel = self.channel
        let controller = self.controller
        let size = frame.size
        do {
            try codec.emit(frame) { sealed in
                channel.eventLoop.execute {
                    channel.writeAndFlush(sealed).whenComplete { _ in controller.written(size) }
                }
            }
        } catch let error as PaddingtonError {
            controller.written(size)
            controller.abort(reason: error)
        } catch {
            controller.written(size)
            controller.abort(reason: PaddingtonError(.protocolViolation, "the codec failed to seal a frame", cause: error))
        }
    }

    /// Why the link is closing or closed, once it is.
    var closeReason: PaddingtonError? { controller.closeReason }

    /// Starts the closing handshake: no more frames are accepted; the Close follows the accepted ones.
    func close(reason: PaddingtonError) {
        controller.close(reason: reason)
    }

    /// Closes the socket at once; frames not yet written are lost.
    func abort(reason: PaddingtonError) {
        controller.abort(reason: reason)
    }
}

extension PeerInfo {
    /// Whether liveness pings may go to this peer. A Rust server hands every Ping to its session loop,
    /// which logs a de-enveloping error for each; its clients skip them silently.
    var acceptsPings: Bool {
        !(weDialled && engine == "paddington")
    }
}
