/// Something that happened to the mesh. Read them from ``Mesh/events``.
///
/// New events will be added: switch over them with a `default` (or `@unknown default`) case.
#if hasAttribute(nonexhaustive)
@nonexhaustive
#endif
public enum MeshEvent: Sendable, CustomStringConvertible {
    /// The listener is bound.
    case listening(host: String, port: Int)
    /// A handshake completed; the peer can be sent to.
    case peerConnected(PeerInfo)
    /// An established link ended. Sends to the peer fail until it reconnects. The reason tells a peer
    /// that shut down (`PaddingtonError.Code.peerShutdown`) from a link that was lost
    /// (`PaddingtonError.Code.connectionLost`) or closed
    /// (`PaddingtonError.Code.connectionClosed`), timed out, or broke the protocol.
    case peerDisconnected(PeerID, reason: PaddingtonError)
    /// A connection was refused or a handshake failed. `peer` is known when dialling, or once the
    /// client's keys were recognised.
    case handshakeFailed(address: String, peer: PeerID?, error: PaddingtonError)

    /// One line for logs, e.g. `connected to server@default (swift-paddington 0.1.0, protocol 1)`.
    public var description: String {
        switch self {
        case .listening(let host, let port): return "listening on \(host):\(port)"
        case .peerConnected(let info): return "connected to \(info)"
        case .peerDisconnected(let peer, let reason): return "disconnected from \(peer): \(reason)"
        case .handshakeFailed(let address, let peer, let error):
            return "handshake with \(peer.map { "\($0) at " } ?? "")\(address) failed: \(error)"
        }
    }
}
