import CoreMetrics
import NIOConcurrencyHelpers

/// Counters of one mesh, by reason. Read a snapshot with ``Mesh/statistics``; the same counts go to
/// swift-metrics (a no-op until the application bootstraps a metrics backend) under the labels
/// `paddington_handshake_failures_total`, `paddington_disconnections_total`,
/// `paddington_handshakes_total` (with a `protocol` dimension), `paddington_messages_sent_total` and
/// `paddington_messages_received_total` and `paddington_messages_unhandled_total`, each with a `service`
/// dimension (and `reason`).
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
    private let service: String
    private let sent: Counter
    private let received: Counter
    private let unhandled: Counter

    init(service: String) {
        self.service = service
        sent = Counter(label: "paddington_messages_sent_total", dimensions: [("service", service)])
        received = Counter(label: "paddington_messages_received_total", dimensions: [("service", service)])
        unhandled = Counter(label: "paddington_messages_unhandled_total", dimensions: [("service", service)])
    }

    var snapshot: MeshStatistics { state.withLockedValue { $0 } }

    func record(_ event: MeshEvent) {
        switch event {
        case .handshakeFailed(_, _, let error):
            state.withLockedValue { $0.handshakeFailures[error.code.description, default: 0] += 1 }
            Counter(label: "paddington_handshake_failures_total", dimensions: [("service", service), ("reason", error.code.description)]).increment()
        case .peerDisconnected(_, let reason):
            state.withLockedValue { $0.disconnections[reason.code.description, default: 0] += 1 }
            Counter(label: "paddington_disconnections_total", dimensions: [("service", service), ("reason", reason.code.description)]).increment()
        case .peerConnected(let info):
            state.withLockedValue {
                $0.handshakes += 1
                $0.handshakesByProtocol[info.protocolVersion, default: 0] += 1
            }
            Counter(label: "paddington_handshakes_total", dimensions: [("service", service), ("protocol", "\(info.protocolVersion)")])
                .increment()
        case .listening:
            break
        }
    }

    func messageSent() {
        state.withLockedValue { $0.messagesSent += 1 }
        sent.increment()
    }

    func messageReceived() {
        state.withLockedValue { $0.messagesReceived += 1 }
        received.increment()
    }

    func malformedAgentFrame() {
        state.withLockedValue { $0.malformedAgentFrames += 1 }
        Counter(label: "paddington_agent_frames_malformed_total", dimensions: [("service", service)]).increment()
    }

    func strayReply() {
        state.withLockedValue { $0.strayReplies += 1 }
    }

    func proxyHeaderIgnored() {
        state.withLockedValue { $0.proxyHeadersIgnored += 1 }
        Counter(label: "paddington_proxy_headers_ignored_total", dimensions: [("service", service)]).increment()
    }

    func messageUnhandled() {
        state.withLockedValue { $0.unhandledMessages += 1 }
        unhandled.increment()
    }
}
