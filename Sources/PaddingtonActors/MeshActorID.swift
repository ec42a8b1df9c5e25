import Paddington

/// The identity of a distributed actor in a mesh: the service that hosts it (its name and the zone its
/// links to others are in) and the actor's name there.
public struct MeshActorID: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The service that hosts the actor.
    public var service: String
    /// The zone of the links to that service.
    public var zone: String
    /// The actor's name in its service: a well-known name, or a generated one.
    public var name: String

    /// The actor `name` on `service` in `zone`.
    public init(service: String, zone: String = "default", name: String) {
        self.service = service
        self.zone = zone
        self.name = name
    }

    /// `name@service` (and `/zone` outside the default zone).
    public var description: String { zone == "default" ? "\(name)@\(service)" : "\(name)@\(service)/\(zone)" }
}
