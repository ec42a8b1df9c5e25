/// What a handshake state machine asks its driver to do.
package enum HandshakeAction: Sendable {
    /// Send this frame as one WebSocket text message.
    case send([UInt8])
    /// Wait this long, then call `standbyTimerFired()` (client waiting as a standby connection).
    case waitThenPoll(Duration)
    /// Server only: decide whether `name@zone` may become primary, then call `standbyDecided(_:)`.
    case decideStandby(name: String, zone: String)
    /// The handshake is complete; the session starts.
    case established(EstablishedSession)
    /// The handshake failed; close the connection and report this error.
    case fail(PaddingtonError)
}

/// The outcome of a successful handshake: everything the session layer needs.
public struct EstablishedSession: Sendable {
    /// Which side dialled.
    public enum Role: Sendable { case client, server }

    /// The peer's service name.
    public var peerName: String
    /// The zone of the link.
    public var zone: String
    /// The peer's engine string (e.g. `paddington`).
    public var peerEngine: String
    /// The peer's version string (e.g. `0.32.2`).
    public var peerVersion: String
    /// Which side this process played.
    public var role: Role
    /// `(SK_in, SK_out)`.
    var keys: EnvelopeKeys
    /// `(Sin, Sout)`.
    var salts: ConnectionSalts
}

/// Identity strings sent in the Handshake messages.
public struct EngineIdentity: Sendable, Equatable {
    /// Sent as `engine`. The Rust crate sends `paddington`.
    public var engine: String
    /// Sent as `version`.
    public var version: String

    public init(engine: String = "swift-paddington", version: String = "0.1.0") {
        self.engine = engine
        self.version = version
    }
}
