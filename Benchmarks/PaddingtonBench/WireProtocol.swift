import NIOConcurrencyHelpers
import Paddington

/// The wire protocol a mesh scenario measures. Both sides get the same policy: `.off` keeps two Swift
/// peers on protocol 1 (the Rust format), `.auto` lets them negotiate protocol 2. Every link is checked
/// against the protocol asked for, so that a figure never silently measures the other one.
enum WireProtocol: Int, CaseIterable, Comparable, Sendable {
    case one = 1
    case two = 2

    /// The `ServiceConfiguration.protocolPolicy` of both sides.
    var policy: ProtocolPolicy { self == .one ? .off : .auto }

    /// `protocol 1` or `protocol 2`.
    var label: String { "protocol \(rawValue)" }

    static func < (lhs: WireProtocol, rhs: WireProtocol) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Throws unless `peer`'s link speaks this protocol.
    func check(_ peer: PeerInfo) throws {
        guard peer.protocolVersion == rawValue else {
            throw BenchError(
                "\(label) was asked for (policy \(policy) on both sides), but the link to \(peer.id) negotiated "
                    + "protocol \(peer.protocolVersion): this scenario's figures would be wrong")
        }
    }
}

/// Watches the links of a scenario that learns of them through `MeshEvent.peerConnected`, and throws
/// afterwards if any spoke another protocol than the one asked for.
final class ProtocolWatch: Sendable {
    let expected: WireProtocol
    private let mismatches = NIOLockedValueBox<[PeerInfo]>([])

    init(_ expected: WireProtocol) { self.expected = expected }

    func observe(_ peer: PeerInfo) {
        if peer.protocolVersion != expected.rawValue { mismatches.withLockedValue { $0.append(peer) } }
    }

    /// Throws for the first link that spoke another protocol.
    func check() throws {
        if let first = mismatches.withLockedValue({ $0.first }) { try expected.check(first) }
    }
}
