/// The intercept stage of the inbound pipeline, for the layers built on the mesh (replies to pending
/// requests, control messages of the agent layer): it sees each message on the read loop, before the
/// per-peer queue, so a handler that awaits a later message from its own peer gets it even while it
/// holds the peer's only delivery slot.
///
/// A tap runs on the link's read loop: it must decide at once and never block. Return true when it took
/// the message (nothing else sees it), false to pass it on.
package protocol InboundTap: Sendable {
    func take(_ message: Message, from peer: PeerInfo) -> Bool
}
