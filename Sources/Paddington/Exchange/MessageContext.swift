import Logging

/// Passed to every message handler and inbound interceptor: who sent the message, and a way to answer.
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

    /// Sends `bytes` back to the sender, in the same zone.
    public func reply(bytes: [UInt8]) async throws {
        try await mesh.send(bytes: bytes, to: peer.name, zone: peer.zone)
    }

    /// Sends `payload` to any connected peer.
    public func send(_ payload: String, to name: String, zone: String = "default") async throws {
        try await mesh.send(payload, to: name, zone: zone)
    }
}

/// A message handler. Errors it throws are logged; they do not close the link.
public typealias MessageHandler = @Sendable (Message, MessageContext) async throws -> Void
