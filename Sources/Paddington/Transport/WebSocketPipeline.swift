import NIOCore
import NIOWebSocket

/// The handlers every upgraded connection gets, in either role.
enum WebSocketPipeline {
    /// Adds message aggregation (fragments up to `maxFrameSize`) and the control handler, and wraps the
    /// channel for async use. Call from the upgrade's pipeline initialiser, on the event loop.
    static func configure(_ channel: any Channel, isClient: Bool, maxFrameSize: Int, controller: LinkController) throws
        -> NIOAsyncChannel<WebSocketFrame, WebSocketFrame>
    {
        try channel.pipeline.syncOperations.addHandlers([
            NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096, maxAccumulatedFrameSize: maxFrameSize),
            WebSocketControlHandler(isClient: isClient) { controller.frameArrived() },
        ])
        return try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)
    }
}

/// Which side of a connection this service is, for ``MeshConfiguration/channelInitializer``.
package enum ConnectionRole: Sendable {
    /// This service accepted the connection.
    case server
    /// This service dialled.
    case client
}
