/// What a handshake state machine asks its driver to do.
package enum HandshakeAction: Sendable {
    /// Send this frame as one WebSocket text message (protocol 1).
    case send([UInt8])
    /// Send this frame as one WebSocket binary message (protocol 2).
    case sendBinary([UInt8])
    /// Wait this long, then call `standbyTimerFired()` (client waiting as a standby connection).
    case waitThenPoll(Duration)
    /// Server only: decide whether `name@zone` may become primary, then call `standbyDecided(_:)`.
    case decideStandby(name: String, zone: String)
    /// The handshake is complete; the session starts.
    case established(EstablishedSession)
    /// The handshake failed; close the connection and report this error.
    case fail(PaddingtonError)
}

/// The outcome of a successful handshake: who the peer is, and the codec for the link.
package struct EstablishedSession: Sendable {
    /// Which side dialled.
    package enum Role: Sendable { case client, server }

    /// The peer's service name.
    package var peerName: String
    /// The zone of the link.
    package var zone: String
    /// The peer's engine string (e.g. `paddington`).
    package var peerEngine: String
    /// The peer's version string (e.g. `0.32.2`).
    package var peerVersion: String
    /// Which side this process played.
    package var role: Role
    /// Seals and opens the link's frames.
    package var codec: any LinkCodec
    /// On the accepting side, the pre-shared keys the client authenticated with (its current keys, or
    /// the previous ones during a rotation's overlap).
    package var clientKeys: EnvelopeKeys? = nil
}

/// A handshake state machine as ``HandshakeDriver`` runs it: frames in, actions out.
package protocol HandshakeMachine: ~Copyable {
    /// Whether its frames are WebSocket binary messages (protocol 2) rather than text (protocol 1).
    var usesBinaryFrames: Bool { get }
    /// Whether each frame has its own time limit (protocol 1), rather than one limit from the first
    /// frame to the end of the session start (protocol 2). Standby polls always have their own.
    var limitsEachStep: Bool { get }
    /// The peer the handshake is with, once known: the server dialled, or the client whose keys opened
    /// the first message (also after a later step failed, so that the failure can name it).
    var identifiedPeer: PeerID? { get }
    /// A handshake frame arrived.
    mutating func receive(_ frame: [UInt8]) -> [HandshakeAction]
    /// The driver's answer to ``HandshakeAction/decideStandby(name:zone:)`` (servers).
    mutating func standbyDecided(_ status: WireMessage.Standby) -> [HandshakeAction]
    /// The wait asked for by ``HandshakeAction/waitThenPoll(_:)`` is over (clients).
    mutating func standbyTimerFired() -> [HandshakeAction]
}

/// The dialling side's machines start once the server accepted the upgrade.
package protocol DialledHandshake: HandshakeMachine, ~Copyable {
    /// The server accepted the upgrade: the first frames to send.
    mutating func upgraded() -> [HandshakeAction]
}

extension HandshakeMachine where Self: ~Copyable {
    package var usesBinaryFrames: Bool { false }
    package var limitsEachStep: Bool { true }
}

/// Identity strings sent in the Handshake messages.
public struct EngineIdentity: Sendable, Equatable {
    /// Sent as `engine`. The Rust crate sends `paddington`.
    public var engine: String
    /// Sent as `version`.
    public var version: String
    /// Whether the handshake announces agent frames (docs/agents.md). Off only in tests that play a
    /// peer that does not take them, as the Rust crate does not.
    package var announcesAgentFrames = true

    /// The identity to send; the defaults name this library.
    public init(engine: String = "swift-paddington", version: String = "0.1.0") {
        self.engine = engine
        self.version = version
    }
}
