import Logging

/// Passed to every request handler: who asked, and by when the answer is due.
///
/// The handler's task is cancelled when the deadline passes, when the caller cancels, and when the
/// link ends; a handler that awaits (`Task.sleep`, a request of its own, I/O) sees the cancellation.
public struct RequestContext: Sendable {
    /// The mesh that received the request.
    public let mesh: Mesh
    /// The peer that sent it.
    public let peer: PeerID
    /// The route it was sent to.
    public let route: String
    /// When the caller stops waiting: the deadline it sent, counted from the request's arrival.
    public let deadline: ContinuousClock.Instant
    /// A logger with the peer and the route in its metadata.
    public let logger: Logger

    /// The time left until ``deadline`` (zero once it has passed).
    public var timeRemaining: Duration {
        max(.zero, deadline - .now)
    }
}

/// A request handler: returns the reply, or throws. A thrown `PaddingtonError` reaches the caller with
/// its code and message; any other error reaches it as `PaddingtonError.Code.remoteError` with the
/// error's type and description.
public typealias RequestHandler = @Sendable (Request, RequestContext) async throws -> Reply
