import Logging

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

/// A message received from a peer.
///
/// Only the payload crosses the wire. The sender and zone come from the authenticated connection,
/// the recipient is this service.
public struct Message: Sendable, Equatable, CustomStringConvertible {
    public var sender: String
    public var recipient: String
    public var zone: String
    public var payload: String

    public init(sender: String, recipient: String, zone: String, payload: String) {
        self.sender = sender
        self.recipient = recipient
        self.zone = zone
        self.payload = payload
    }

    /// The Rust crate's display format: `Message in zone <zone> from <sender> to <recipient>: <payload>`.
    public var description: String {
        "Message in zone \(zone) from \(sender) to \(recipient): \(payload)"
    }
}

/// What a connected peer told us about itself in the handshake.
public struct PeerInfo: Sendable, Equatable, CustomStringConvertible {
    /// The peer's name and zone.
    public var id: PeerID
    /// Its engine string (`paddington` for the Rust crate).
    public var engine: String
    /// Its version string.
    public var version: String
    /// True when this service dialled the peer.
    public var weDialled: Bool

    public var description: String { "\(id) (\(engine) \(version))" }
}

/// Something that happened to the mesh. Read them from ``Mesh/events``.
public enum MeshEvent: Sendable, CustomStringConvertible {
    /// The listener is bound.
    case listening(host: String, port: Int)
    /// A handshake completed; the peer can be sent to.
    case peerConnected(PeerInfo)
    /// An established link ended. Sends to the peer fail until it reconnects.
    case peerDisconnected(PeerID, reason: PaddingtonError)
    /// A connection was refused or a handshake failed. `peer` is known when dialling, or once the
    /// client's keys were recognised.
    case handshakeFailed(address: String, peer: PeerID?, error: PaddingtonError)

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

/// Passed to every message handler: who sent the message, and a way to answer.
public struct MessageContext: Sendable {
    /// The mesh that received the message.
    public let mesh: Mesh
    /// The peer the message came from.
    public let peer: PeerID
    /// A logger with the peer in its metadata.
    public let logger: Logger

    /// Sends `payload` back to the sender, in the same zone.
    public func reply(_ payload: String) async throws {
        try await mesh.send(payload, to: peer.name, zone: peer.zone)
    }

    /// Sends `payload` to any connected peer.
    public func send(_ payload: String, to name: String, zone: String = "default") async throws {
        try await mesh.send(payload, to: name, zone: zone)
    }
}

/// A message handler. Errors it throws are logged; they do not close the link.
public typealias MessageHandler = @Sendable (Message, MessageContext) async throws -> Void
