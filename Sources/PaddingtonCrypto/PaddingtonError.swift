/// The one error type of swift-paddington.
///
/// Every failure carries a ``Code`` that callers can match on, a human-readable message that names
/// what was wrong (the file, the field, the peer, the offset in a frame), and an optional underlying
/// cause. New codes can be added without breaking callers, because ``Code`` is a struct.
///
/// ```swift
/// do {
///     let invitation = try Invitation.load(from: path)
/// } catch let error as PaddingtonError where error.code == .invalidInvitation {
///     print(error.message)
/// }
/// ```
public struct PaddingtonError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidKey
            case invalidHex
            case malformedFrame
            case decryptionFailed
            case invalidJSON
            case invalidInvitation
            case invalidConfiguration
            case invalidArgument
            case fileNotFound
            case fileSystem
            case authenticationFailed
            case peerNameMismatch
            case peerZoneMismatch
            case protocolVersionMismatch
            case ipNotAllowed
            case standbyRefused
            case timeout
            case tooManyConnections
            case peerNotConnected
            case payloadTooLarge
            case connectionClosed
            case connectionLost
            case peerShutdown
            case downgradeDetected
            case protocolViolation
            case shutdown
            case transport
            case tls
            case unsupportedByPeer
            case deadlineExceeded
            case remoteError
            case unknownRoute
            case badRequest
            case overloaded
            case linkLost
            case cancelled
            case tooManyRequests
            case malformedAgentFrame
            case unknownActor
        }

        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        public var description: String { wrapped.rawValue }

        /// The code a peer names in an error frame, when it is one of ours.
        package init?(named name: String) {
            guard let wrapped = Wrapped(rawValue: name) else { return nil }
            self.wrapped = wrapped
        }

        /// A key is not 32 bytes, is all zero, or is not valid hex.
        public static let invalidKey = Code(.invalidKey)
        /// A hex string has an odd length or a character outside `0-9a-fA-F`.
        public static let invalidHex = Code(.invalidHex)
        /// A received frame is not an envelope: too short, odd length, or not ASCII hex.
        public static let malformedFrame = Code(.malformedFrame)
        /// An AEAD tag did not verify: wrong key, wrong salts, or tampered bytes.
        public static let decryptionFailed = Code(.decryptionFailed)
        /// Decrypted bytes are not the JSON that was expected.
        public static let invalidJSON = Code(.invalidJSON)
        /// An invitation file is malformed or fails validation.
        public static let invalidInvitation = Code(.invalidInvitation)
        /// A service configuration file or value is malformed or fails validation.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// An argument passed to the API is not acceptable.
        public static let invalidArgument = Code(.invalidArgument)
        /// A file that should exist does not.
        public static let fileNotFound = Code(.fileNotFound)
        /// Reading or writing a file failed.
        public static let fileSystem = Code(.fileSystem)
        /// The peer does not hold the keys it claims (trial decryption of the handshake failed).
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The peer's service name is not the one its keys belong to.
        public static let peerNameMismatch = Code(.peerNameMismatch)
        /// The peer's zone is not the one its keys belong to.
        public static let peerZoneMismatch = Code(.peerZoneMismatch)
        /// The peer speaks another generation of the protocol.
        public static let protocolVersionMismatch = Code(.protocolVersionMismatch)
        /// The source address of a connection is not allowed for any client.
        public static let ipNotAllowed = Code(.ipNotAllowed)
        /// The peer refused this connection as a standby (another connection holds `name@zone`).
        public static let standbyRefused = Code(.standbyRefused)
        /// A connect, upgrade or handshake step took longer than its limit.
        public static let timeout = Code(.timeout)
        /// A connection limit was reached.
        public static let tooManyConnections = Code(.tooManyConnections)
        /// No connection to the named peer is established.
        public static let peerNotConnected = Code(.peerNotConnected)
        /// A payload would make a frame larger than the configured maximum.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// The link was closed: by the peer with a WebSocket Close, or by this service; an operation on
        /// a closing link fails with it too.
        public static let connectionClosed = Code(.connectionClosed)
        /// The connection ended without a WebSocket Close, or failed: the peer's process, host or the
        /// network went away.
        public static let connectionLost = Code(.connectionLost)
        /// The peer closed the link because it is shutting down (WebSocket status 1001, going away).
        public static let peerShutdown = Code(.peerShutdown)
        /// Both sides support protocol 2 but the connection was negotiated down to protocol 1: a header
        /// was stripped or changed on the way (docs/protocol.md).
        public static let downgradeDetected = Code(.downgradeDetected)
        /// The peer broke the protocol (unexpected frame type, reserved payload, ...).
        public static let protocolViolation = Code(.protocolViolation)
        /// The service is shutting down.
        public static let shutdown = Code(.shutdown)
        /// The network transport failed (connect refused, reset, bind failure, ...).
        public static let transport = Code(.transport)
        /// TLS failed on a `wss://` link: the certificate is for another host, expired or not signed by
        /// a trusted CA; a plain client reached a TLS port or a TLS client a plain one; or the TLS
        /// handshake failed otherwise. The message says which.
        public static let tls = Code(.tls)

        // The agent layer (docs/agents.md).

        /// The peer does not take requests: it did not announce agent frames (a Rust peer). Nothing was
        /// sent.
        public static let unsupportedByPeer = Code(.unsupportedByPeer)
        /// A request's deadline passed before its reply arrived. The handler may or may not have run;
        /// the peer was told to cancel it.
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// The peer's handler failed (threw), or the peer answered with an error this library does not
        /// name; the message says what the peer said.
        public static let remoteError = Code(.remoteError)
        /// The peer has no handler for the request's route.
        public static let unknownRoute = Code(.unknownRoute)
        /// The peer refused the request's body before its handler ran (it did not decode as the route's
        /// type); the message names the field and what was wrong.
        public static let badRequest = Code(.badRequest)
        /// The peer refused the request because it runs as many of this peer's requests as it allows.
        public static let overloaded = Code(.overloaded)
        /// The link to the peer ended while the request was in flight: the handler may or may not have
        /// run.
        public static let linkLost = Code(.linkLost)
        /// The caller's task was cancelled while it waited; the peer was told to cancel the handler.
        public static let cancelled = Code(.cancelled)
        /// As many requests to this peer are in flight as ``MeshConfiguration`` allows; nothing was sent.
        public static let tooManyRequests = Code(.tooManyRequests)
        /// A peer's agent frame does not decode.
        public static let malformedAgentFrame = Code(.malformedAgentFrame)
        /// The service hosts no distributed actor by that name (or not of that type).
        public static let unknownActor = Code(.unknownActor)
    }

    /// What kind of failure this is.
    public var code: Code
    /// A precise, human-readable explanation. Never contains key material.
    public var message: String
    /// The lower-level error that caused this one, if any.
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause {
            return "\(code): \(message) (\(cause))"
        }
        return "\(code): \(message)"
    }
}
