/// One established link as ``Mesh/links`` reports it.
public struct LinkStatus: Sendable, Equatable {
    /// The peer and how the link was set up (protocol, direction).
    public var peer: PeerInfo
    /// How long the link has been up.
    public var connectedFor: Duration
    /// Messages received on the link (plain messages; requests and replies are not counted).
    public var messagesIn: Int
    /// Messages sent on the link (plain messages; requests and replies are not counted).
    public var messagesOut: Int

    /// A link's status.
    public init(peer: PeerInfo, connectedFor: Duration, messagesIn: Int, messagesOut: Int) {
        self.peer = peer
        self.connectedFor = connectedFor
        self.messagesIn = messagesIn
        self.messagesOut = messagesOut
    }
}
