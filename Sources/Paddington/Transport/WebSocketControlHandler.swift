import NIOCore
import NIOWebSocket

/// Handles the WebSocket control plane below the async session code.
///
/// * Answers Ping with Pong.
/// * Forwards a peer's Close without answering it: the async side answers (the handshake at once, a
///   session once every frame it accepted has been written), so no frame can be accepted after a Close
///   this handler sent on its own. Once Closes went both ways, it closes the channel. After a Close has
///   been sent, data frames are refused (their writes fail).
/// * Unmasks inbound data frames, and masks every outbound frame when this side dialled (RFC 6455
///   requires client frames to be masked; plain NIO does not do it).
/// * Forwards every inbound frame (control frames included) so the session can track liveness, and
///   tells the link that a frame arrived (it then waits for the read loop, which may not run at once).
final class WebSocketControlHandler: ChannelDuplexHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let isClient: Bool
    /// Told of every frame passed on (the link counts frames that wait for its read loop).
    private let frameArrived: (@Sendable () -> Void)?
    private var sentClose = false
    private var receivedClose = false

    init(isClient: Bool, frameArrived: (@Sendable () -> Void)? = nil) {
        self.isClient = isClient
        self.frameArrived = frameArrived
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        frameArrived?()
        switch frame.opcode {
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: maskKey(), data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())))
        case .connectionClose:
            receivedClose = true
            context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: frame.unmaskedData)))
            if sentClose {
                context.close(promise: nil)
            }
        default:
            if frame.maskKey != nil {
                context.fireChannelRead(wrapInboundOut(WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: frame.unmaskedData)))
            } else {
                context.fireChannelRead(data)
            }
        }
    }

    /// A framing error from the decoder (oversized or fragmented control frame, a message over the
    /// size limit, a reserved opcode): answer with the matching Close code, close, and pass the error
    /// on so the session reports it.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Pass the error on first: closing can complete synchronously and would end the inbound
        // stream cleanly before the error reached it.
        context.fireErrorCaught(error)
        if let error = error as? NIOWebSocketError, !sentClose {
            sentClose = true
            var data = context.channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: error == .invalidFrameLength ? .messageTooLarge : .protocolError)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: maskKey(), data: data)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var frame = unwrapOutboundIn(data)
        if sentClose, frame.opcode != .connectionClose {
            // RFC 6455: no data after a Close. Failing the write tells the sender its frame was not sent.
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if frame.opcode == .connectionClose {
            if sentClose {
                promise?.succeed()
                return
            }
            sentClose = true
            if receivedClose {
                // Our answer to the peer's Close: the closing handshake is complete once it is out.
                if isClient { frame.maskKey = maskKey() }
                let channel = context.channel
                let written = context.eventLoop.makePromise(of: Void.self)
                written.futureResult.whenComplete { result in
                    promise?.completeWith(result)
                    channel.close(promise: nil)
                }
                context.write(wrapOutboundOut(frame), promise: written)
                return
            }
        }
        if isClient {
            frame.maskKey = maskKey()
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    private func maskKey() -> WebSocketMaskingKey? {
        isClient ? .random() : nil
    }
}
