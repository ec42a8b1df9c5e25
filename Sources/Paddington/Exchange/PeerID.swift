/// A peer, identified as the Rust crate does: service name and zone (`name@zone`).
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var zone: String

    public init(name: String, zone: String = "default") {
        self.name = name
        self.zone = zone
    }

    public var description: String { "\(name)@\(zone)" }
}
