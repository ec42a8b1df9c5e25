/// Told, synchronously and in order, about every link that goes up or down. For the layers above the
/// transport (pending requests, gauges, health), which must not miss a link as a reader of the public,
/// bounded ``Mesh/events`` stream may.
///
/// Calls come from the link's session task; keep them short and never block in them.
package protocol LinkObserver: Sendable {
    /// A link was established and registered: sends to the peer now reach it.
    func linkUp(_ peer: PeerInfo)
    /// A registered link ended.
    func linkDown(_ peer: PeerID, reason: PaddingtonError)
}
