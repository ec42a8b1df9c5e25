import PaddingtonCrypto
import NIOCore
import NIOWebSocket

/// What the listener's pipeline produces for each accepted connection.
enum InboundUpgrade: Sendable {
    /// The upgraded connection, claimed by the task that serves it (closed if nobody does).
    case websocket(ChannelClaim<WebSocketFrame, WebSocketFrame>, InboundConnection)
    case refused(address: String, error: PaddingtonError)
}

/// What the checks before the upgrade learnt about an inbound connection.
struct InboundConnection: Sendable {
    var address: String
    var ip: IPAddress
    var maskedSalts: ConnectionSalts
    /// What the `openportal-protocol` header decided.
    var negotiation: NegotiatedProtocol
    var controller: LinkController
    var admission: Admission
}
