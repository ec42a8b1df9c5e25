import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// Before the upgrade: remembers the first pipeline error (malformed or oversized HTTP) and closes
/// the connection, which NIO's HTTP error handler leaves open after its 400.
final class UpgradeErrorObserver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = Never
    private let recorded = NIOLockedValueBox<(any Error)?>(nil)

    var error: (any Error)? { recorded.withLockedValue { $0 } }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refused upgrade (our own shouldUpgrade said no) is answered by the not-upgraded path.
        if error is NIOWebSocketUpgradeError { return }
        recorded.withLockedValue { if $0 == nil { $0 = error } }
        context.close(promise: nil)
    }
}
