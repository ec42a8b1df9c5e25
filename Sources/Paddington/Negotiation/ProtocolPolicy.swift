/// Which wire protocols a service, or one of its peers, may use (docs/protocol.md).
///
/// * ``auto`` (the default): protocol 2 when the peer offers or selects it, protocol 1 (the Rust wire
///   format) otherwise. Downgrades between two protocol 2 peers are detected and refused.
/// * ``require``: protocol 2 only; protocol 1 from this peer (or, service-wide, from any peer) is refused.
/// * ``off``: protocol 1 only, exactly as the Rust crate speaks it: no offer, no selection, no marker in
///   the handshake.
///
/// On the command line and in configuration files it is written `auto`, `2` (require) or `1` (off).
public struct ProtocolPolicy: Hashable, Sendable, CustomStringConvertible {
    private enum Value: String, Hashable, Sendable {
        case auto
        case require = "2"
        case off = "1"
    }

    private let value: Value

    private init(_ value: Value) { self.value = value }

    /// Protocol 2 when both sides support it, protocol 1 otherwise.
    public static let auto = ProtocolPolicy(.auto)
    /// Protocol 2 only.
    public static let require = ProtocolPolicy(.require)
    /// Protocol 1 only, as the Rust crate speaks it.
    public static let off = ProtocolPolicy(.off)

    /// Parses `auto`, `2` (require) or `1` (off); also accepts the names `require` and `off`.
    public init?(_ text: String) {
        switch text {
        case "auto": self = .auto
        case "2", "require": self = .require
        case "1", "off": self = .off
        default: return nil
        }
    }

    /// `auto`, `2` or `1`.
    public var description: String { value.rawValue }

    /// Whether protocol 2 may be used at all.
    var allowsProtocolTwo: Bool { value != .off }

    /// Whether protocol 1 is refused.
    var requiresProtocolTwo: Bool { value == .require }
}
