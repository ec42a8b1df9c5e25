import CoreMetrics

/// The swift-metrics instruments of one mesh, made with the factory of
/// ``MeshConfiguration/metricsFactory``. Every metric name always carries the same dimension names
/// (swift-prometheus refuses one name with two sets of label names); `docs/operations.md`
/// lists them.
///
/// Per-link instruments are made once, when a link is established (``LinkMetrics``); the hot paths only
/// increment them.
final class MeshMetrics: Sendable {
    /// The metric names.
    enum Name {
        static let linksUp = "paddington_links_up"
        static let handshakes = "paddington_handshakes_total"
        static let messages = "paddington_messages_total"
        static let frames = "paddington_frames_total"
        static let bytes = "paddington_bytes_total"
        static let sendQueue = "paddington_send_queue_bytes"
        static let disconnections = "paddington_disconnections_total"
        static let unhandled = "paddington_messages_unhandled_total"
        static let malformed = "paddington_agent_frames_malformed_total"
        static let proxyHeadersIgnored = "paddington_proxy_headers_ignored_total"
    }

    let factory: any MetricsFactory
    let service: String
    private let unhandledCounter: Counter
    private let malformedCounter: Counter
    private let proxyHeadersIgnoredCounter: Counter

    init(service: String, factory: any MetricsFactory) {
        self.service = service
        self.factory = factory
        unhandledCounter = Counter(label: Name.unhandled, dimensions: [("service", service)], factory: factory)
        malformedCounter = Counter(label: Name.malformed, dimensions: [("service", service)], factory: factory)
        proxyHeadersIgnoredCounter = Counter(label: Name.proxyHeadersIgnored, dimensions: [("service", service)], factory: factory)
    }

    /// `in` when the peer dialled this service, `out` when this service dialled it.
    static func direction(weDialled: Bool) -> String { weDialled ? "out" : "in" }

    /// A handshake that completed: counted with its protocol.
    func handshakeSucceeded(_ info: PeerInfo) {
        handshake(direction: Self.direction(weDialled: info.weDialled), protocol: "\(info.protocolVersion)", outcome: "ok", reason: "none")
    }

    /// A refused connection or failed handshake; the protocol is `unknown` (it may not have been chosen).
    func handshakeFailed(direction: String, error: PaddingtonError) {
        handshake(direction: direction, protocol: "unknown", outcome: "failed", reason: error.code.description)
    }

    private func handshake(direction: String, protocol version: String, outcome: String, reason: String) {
        Counter(
            label: Name.handshakes,
            dimensions: [("service", service), ("direction", direction), ("protocol", version), ("outcome", outcome), ("reason", reason)],
            factory: factory
        ).increment()
    }

    /// An established link ended.
    func disconnected(_ info: PeerInfo, reason: PaddingtonError) {
        Counter(
            label: Name.disconnections,
            dimensions: [
                ("service", service), ("peer", info.id.name), ("zone", info.id.zone),
                ("direction", Self.direction(weDialled: info.weDialled)), ("protocol", "\(info.protocolVersion)"),
                ("reason", reason.code.description),
            ],
            factory: factory
        ).increment()
    }

    func messageUnhandled() { unhandledCounter.increment() }

    func malformedAgentFrame() { malformedCounter.increment() }

    func proxyHeaderIgnored() { proxyHeadersIgnoredCounter.increment() }

    /// The instruments of one link, made once.
    func link(_ info: PeerInfo) -> LinkMetrics {
        LinkMetrics(info: info, service: service, factory: factory)
    }
}
