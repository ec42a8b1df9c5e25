/// What every agent of ours answers on the built-in route `paddington.info`.
public struct ServiceInfo: Codable, Sendable, Equatable {
    /// One established link.
    public struct Link: Codable, Sendable, Equatable {
        /// The peer's name.
        public var peer: String
        /// The link's zone.
        public var zone: String
        /// The wire protocol of the link (1 or 2).
        public var `protocol`: Int
        /// `out` when this service dialled the peer, `in` when the peer dialled it.
        public var direction: String
    }

    /// The service's name.
    public var name: String
    /// The engine (`swift-paddington`).
    public var engine: String
    /// The engine's version.
    public var version: String
    /// Seconds since the mesh started running.
    public var uptimeSeconds: Double
    /// The established links.
    public var links: [Link]

    private enum CodingKeys: String, CodingKey {
        case name, engine, version, links
        case uptimeSeconds = "uptime_seconds"
    }
}
