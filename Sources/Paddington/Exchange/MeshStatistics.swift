import NIOConcurrencyHelpers

/// Counters of one mesh, by reason. Read a snapshot with ``Mesh/statistics``; the same events go to
/// swift-metrics through ``MeshConfiguration/metricsFactory`` (`paddington_handshakes_total`,
/// `paddington_disconnections_total`, `paddington_messages_total`, `paddington_messages_unhandled_total`
/// and others, listed with their labels in `docs/operations.md`).
public struct MeshStatistics: Sendable, Equatable {
    /// Refused connections and failed handshakes, by `PaddingtonError.Code` name.
    public var handshakeFailures: [String: Int] = [:]
    /// Established links that ended, by reason.
    public var disconnections: [String: Int] = [:]
    /// Handshakes that completed.
    public var handshakes = 0
    /// Handshakes that completed, by the wire protocol of the link (1: the Rust format, 2).
    public var handshakesByProtocol: [Int: Int] = [:]
    /// Payloads written to links (keepalives excluded).
    public var messagesSent = 0
    /// Payloads received from links (keepalives excluded).
    public var messagesReceived = 0
    /// Received payloads no handler was registered for (dropped, and reported once per peer).
    public var unhandledMessages = 0
    /// Agent frames from peers that did not decode (dropped, or answered with an error when they carried
    /// a request id); the link stays up.
    public var malformedAgentFrames = 0
    /// Replies and errors for no request in flight (late after a deadline, or a peer's mistake): dropped.
    public var strayReplies = 0
    /// Upgrade requests that carried the configured `proxy_header` from an address that is not a trusted
    /// proxy: the header was ignored (the connection's own address was checked).
    public var proxyHeadersIgnored = 0

    /// All counters at zero.
    public init() {}
}

/// The counters behind ``MeshStatistics``.
final class StatisticsRecorder: Sendable {
    private let state = NIOLockedValueBox(MeshStatistics())
    private let metrics: MeshMetrics

    init(metrics: MeshMetrics) {
        self.metrics = metrics
    }

    var snapshot: MeshStatistics { state.withLockedValue { $0 } }

    func record(_ event: MeshEvent) {
        switch event {
        case .handshakeFailed(_, _, let error):
            state.withLockedValue { $0.handshakeFailures[error.code.description, default: 0] += 1 }
        case .peerDisconnected(_, let reason):
            state.withLockedValue { $0.disconnections[reason.code.description, default: 0] += 1 }
        case .peerConnected(let info):
            state.withLockedValue {
                $0.handshakes += 1
                $0.handshakesByProtocol[info.protocolVersion, default: 0] += 1
            }
        case .listening:
            break
        }
    }

    func messageSent() {
        state.withLockedValue { $0.messagesSent += 1 }
    }

    func messageReceived() {
        state.withLockedValue { $0.messagesReceived += 1 }
    }

    func malformedAgentFrame() {
        state.withLockedValue { $0.malformedAgentFrames += 1 }
        metrics.malformedAgentFrame()
    }

    func strayReply() {
        state.withLockedValue { $0.strayReplies += 1 }
    }

    func proxyHeaderIgnored() {
        state.withLockedValue { $0.proxyHeadersIgnored += 1 }
        metrics.proxyHeaderIgnored()
    }

    func messageUnhandled() {
        state.withLockedValue { $0.unhandledMessages += 1 }
        metrics.messageUnhandled()
    }
}
