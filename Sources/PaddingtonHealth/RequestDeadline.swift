import NIOCore
import NIOHTTP1

/// Between NIO's HTTP decoder and its pipelining handler: a whole request (head and body) must arrive
/// within the deadline of the connection's start or of the end of the previous response. Otherwise the
/// client is answered `408` (unless a response is being written) and the connection is closed.
///
/// The idle timeout restarts at every byte, so a client trickling one byte at a time would keep its
/// connection, and a slot of ``HealthServer/Configuration/maxConnections``, for as long as it likes; this
/// deadline does not move until a response is done.
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Requests received whole, and responses ended: the deadline runs only while they are equal (every
    /// request received has been answered), so it never runs out while a request is being served.
    private var requests = 0
    private var responses = 0
    /// Between a response's head and its end: no `408` then, only a close.
    private var responding = false

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil { arm(context) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            requests += 1
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            responding = true
        case .body:
            break
        case .end:
            responding = false
            responses += 1
            // A request received whole while this one was served (pipelining) waits for its own answer.
            if responses >= requests { arm(context) }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            expired(context)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func expired(_ context: ChannelHandlerContext) {
        timer = nil
        guard context.channel.isActive else { return }
        guard !responding else {
            context.close(promise: nil)
            return
        }
        let head = HTTPResponseHead(
            version: .http1_1, status: .requestTimeout,
            headers: ["content-length": "0", "date": HTTPDate.now(), "connection": "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
