/// A message received from a peer.
///
/// Only the payload crosses the wire. The sender and zone come from the authenticated link, the
/// recipient is this service. The payload is text on protocol 1 links (the Rust wire format carries
/// JSON strings) and bytes on protocol 2 links; ``payload`` and ``bytes`` give it either way.
public struct Message: Sendable, Equatable, CustomStringConvertible {
    /// The name of the peer that sent it (from the link, not from the frame).
    public var sender: String
    /// The name of the service that received it: this one.
    public var recipient: String
    /// The zone of the link it came over.
    public var zone: String
    var content: Payload

    /// A message with a text payload.
    public init(sender: String, recipient: String, zone: String, payload: String) {
        self.init(sender: sender, recipient: recipient, zone: zone, content: .text(payload))
    }

    /// A message with a byte payload.
    public init(sender: String, recipient: String, zone: String, bytes: [UInt8]) {
        self.init(sender: sender, recipient: recipient, zone: zone, content: .bytes(bytes))
    }

    init(sender: String, recipient: String, zone: String, content: Payload) {
        self.sender = sender
        self.recipient = recipient
        self.zone = zone
        self.content = content
    }

    /// The payload as text. Bytes that are not UTF-8 (possible only on protocol 2 links) are decoded
    /// with replacement characters; use ``bytes`` for binary payloads.
    public var payload: String {
        get { content.text }
        set { content = .text(newValue) }
    }

    /// The payload's bytes (the UTF-8 of a text payload).
    public var bytes: [UInt8] {
        get { content.bytes }
        set { content = .bytes(newValue) }
    }

    /// The peer the message came from.
    public var peer: PeerID { PeerID(name: sender, zone: zone) }

    /// The Rust crate's display format: `Message in zone <zone> from <sender> to <recipient>: <payload>`.
    public var description: String {
        "Message in zone \(zone) from \(sender) to \(recipient): \(payload)"
    }
}
