import NIOCore
import NIOHTTP1

/// Before the HTTP decoder: counts the bytes since the last request head was decoded and, past the
/// limit, raises `HTTPParserError.headerOverflow`, which NIO's server error handler answers with `400`
/// before it closes the connection. ``Reset``, after the decoder, starts the count again at each head.
final class RequestHeadLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let maxBytes: Int
    private var count = 0
    private var tripped = false

    init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !tripped else { return }
        count += unwrapInboundIn(data).readableBytes
        if count > maxBytes {
            tripped = true
            context.fireErrorCaught(HTTPParserError.headerOverflow)
            return
        }
        context.fireChannelRead(data)
    }

    /// After the decoder: a request head arrived, so the next head's bytes are counted from here.
    final class Reset: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart

        private let limit: RequestHeadLimit

        init(limit: RequestHeadLimit) {
            self.limit = limit
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head = unwrapInboundIn(data) { limit.count = 0 }
            context.fireChannelRead(data)
        }
    }
}
