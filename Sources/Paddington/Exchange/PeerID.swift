/// A peer, identified as the Rust crate does: service name and zone (`name@zone`).
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    /// The peer's service name.
    public var name: String
    /// The zone of the link (`default` unless the invitation named another).
    public var zone: String

    /// The peer `name@zone`.
    public init(name: String, zone: String = "default") {
        self.name = name
        self.zone = zone
    }

    /// `name@zone`, as the Rust crate prints it.
    public var description: String { "\(name)@\(zone)" }
}
