import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Before the upgrade, on the dialling side: remembers the status of the server's response, so that a
/// refusal can say what the server answered (403 for an address, 426 when protocol 2 is required). It
/// sits between the HTTP decoder and the upgrade handler and is removed by the upgrade.
final class ResponseStatusRecorder: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias InboundOut = HTTPClientResponsePart

    private let recorded = NIOLockedValueBox<HTTPResponseStatus?>(nil)

    var status: HTTPResponseStatus? { recorded.withLockedValue { $0 } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data) {
            recorded.withLockedValue { $0 = head.status }
        }
        context.fireChannelRead(data)
    }

    /// Adds a recorder right after the pipeline's HTTP response decoder.
    static func install(in channel: any Channel) throws -> ResponseStatusRecorder {
        let recorder = ResponseStatusRecorder()
        let decoder = try channel.pipeline.syncOperations.context(handlerType: ByteToMessageHandler<HTTPResponseDecoder>.self)
        try channel.pipeline.syncOperations.addHandler(recorder, position: .after(decoder.handler))
        return recorder
    }
}
