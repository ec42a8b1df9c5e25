/// Outbound middleware: sees every payload sent with ``Mesh/send(_:to:zone:)`` (and the byte variant)
/// before the link's codec seals it.
///
/// Interceptors run in the order given to the ``Mesh``, on the sender's task. Call `next` to go on
/// (with the message as it is, or changed, even to another recipient); return without calling it to
/// drop the message; throw to fail the send with your error.
public protocol OutboundInterceptor: Sendable {
    /// Handles one payload on its way to the link.
    ///
    /// - Parameters:
    ///   - message: the payload and its recipient, as given to `send` or as the previous interceptor
    ///     passed them on.
    ///   - next: the rest of the path (later interceptors, then the link). It returns when the link has
    ///     accepted the frame and throws what ``Mesh/send(_:to:zone:)`` documents. Each call sends
    ///     again: call it once to send, not at all to drop the payload.
    func intercept(_ message: OutboundMessage, next: (OutboundMessage) async throws -> Void) async throws
}

/// A message on its way out, as outbound interceptors see it.
public struct OutboundMessage: Sendable {
    /// The peer it goes to.
    public var recipient: PeerID
    var content: Payload

    /// A text payload for `recipient`.
    public init(recipient: PeerID, payload: String) {
        self.recipient = recipient
        content = .text(payload)
    }

    /// A byte payload for `recipient`.
    public init(recipient: PeerID, bytes: [UInt8]) {
        self.recipient = recipient
        content = .bytes(bytes)
    }

    init(recipient: PeerID, content: Payload) {
        self.recipient = recipient
        self.content = content
    }

    /// The payload as text (bytes that are not UTF-8 are decoded with replacement characters).
    public var payload: String {
        get { content.text }
        set { content = .text(newValue) }
    }

    /// The payload's bytes.
    public var bytes: [UInt8] {
        get { content.bytes }
        set { content = .bytes(newValue) }
    }
}
