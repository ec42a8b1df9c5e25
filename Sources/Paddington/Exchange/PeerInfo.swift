/// What a connected peer told us about itself in the handshake, and how the link was set up.
public struct PeerInfo: Sendable, Equatable, CustomStringConvertible {
    /// The peer's name and zone.
    public var id: PeerID
    /// Its engine string (`paddington` for the Rust crate, `swift-paddington` for this library).
    public var engine: String
    /// Its version string.
    public var version: String
    /// True when this service dialled the peer.
    public var weDialled: Bool
    /// The wire protocol of the link: 1, the Rust crate's format (no forward secrecy, no replay
    /// protection), or 2 (docs/protocol.md).
    public var protocolVersion: Int

    /// A peer's details; the mesh makes these when a handshake completes.
    public init(id: PeerID, engine: String, version: String, weDialled: Bool, protocolVersion: Int = 1) {
        self.id = id
        self.engine = engine
        self.version = version
        self.weDialled = weDialled
        self.protocolVersion = protocolVersion
    }

    /// `name@zone (engine version, protocol n)`.
    public var description: String { "\(id) (\(engine) \(version), protocol \(protocolVersion))" }
}
