import CoreMetrics
import Logging
import PaddingtonCrypto
import NIOCore

/// What the listener, the diallers and the link sessions of one ``Mesh`` share: the configuration,
/// the registry of links, admission limits, the inbound pipeline, the event hub and the counters.
/// One per mesh; nothing in it is global.
final class MeshCore: Sendable {
    let configuration: ServiceConfiguration
    let options: MeshConfiguration
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup
    let registry: LinkRegistry
    let admission: AdmissionControl
    let pipeline: InboundPipeline
    let outboundInterceptors: [any OutboundInterceptor]
    let events: EventHub
    let statistics: StatisticsRecorder
    /// The swift-metrics instruments (``MeshConfiguration/metricsFactory``).
    let metrics: MeshMetrics
    /// Request/reply: routes, requests in flight.
    let agents: AgentLayer
    /// When the mesh was made (the uptime of `paddington.info`).
    let createdAt = ContinuousClock.now
    /// Each client's protocol 2 pre-shared key, in configuration order (derived once: message 1 is
    /// tried against every admitted client).
    let protocolTwoKeys: [SecretKey]
    /// When a protocol 2 sender marks a frame the last under its key.
    let rekeyPolicy: ProtocolTwo.RekeyPolicy
    /// Whether no two clients share keys. Then the client that last authenticated from an address may
    /// be tried first on a new connection from it (a reconnect costs one trial, not a scan) without
    /// changing which client is found: the only one whose keys open the frame, as the first in
    /// configuration order would be.
    let clientKeysAreDistinct: Bool

    init(
        configuration: ServiceConfiguration,
        options: MeshConfiguration,
        inboundInterceptors: [any InboundInterceptor],
        outboundInterceptors: [any OutboundInterceptor],
        requestMiddleware: [any RequestMiddleware] = [],
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) {
        self.configuration = configuration
        self.options = options
        self.logger = logger
        self.eventLoopGroup = eventLoopGroup
        registry = LinkRegistry()
        admission = AdmissionControl(maxPending: options.maxPendingHandshakes, maxPerAddress: options.maxConnectionsPerAddress)
        metrics = MeshMetrics(service: configuration.name, factory: options.metricsFactory ?? MetricsSystem.factory)
        statistics = StatisticsRecorder(metrics: metrics)
        pipeline = InboundPipeline(
            interceptors: inboundInterceptors, maxConcurrentHandlers: options.maxConcurrentHandlers, statistics: statistics)
        self.outboundInterceptors = outboundInterceptors
        agents = AgentLayer(options: options, middleware: requestMiddleware, statistics: statistics, eventLoop: eventLoopGroup.next())
        events = EventHub(bufferSize: options.eventBufferSize)
        protocolTwoKeys = configuration.clients.map { ProtocolTwo.psk(from: $0.keys) }
        clientKeysAreDistinct = Set(protocolTwoKeys.map(\.fingerprint)).count == protocolTwoKeys.count
        rekeyPolicy = ProtocolTwo.RekeyPolicy(
            frames: options.rekey.frames, bytes: options.rekey.bytes, interval: options.rekey.interval)
    }

    var isShuttingDown: Bool { registry.isShuttingDown }

    /// The client to try first on a connection from `address`, when that cannot change the outcome.
    func preferredClient(from address: IPAddress) -> PeerID? {
        clientKeysAreDistinct ? registry.lastClient(from: address) : nil
    }

    func emit(_ event: MeshEvent) {
        statistics.record(event)
        events.emit(event)
    }

    /// The limits of each connection's ``LinkStateMachine``.
    var linkConfiguration: LinkStateMachine<LinkController.Waiter>.Configuration {
        LinkStateMachine.Configuration(
            budgetBytes: options.outboundBufferSize,
            idleTimeout: .nanoseconds(options.idleTimeout.nanoseconds),
            keepaliveInterval: .nanoseconds(options.keepaliveInterval.nanoseconds),
            closeTimeout: .nanoseconds(options.closeTimeout.nanoseconds),
            stepTimeout: .nanoseconds(options.handshakeTimeout.nanoseconds))
    }

    /// Sleeps for `duration` (a backoff, a standby poll). Returns false when the mesh is shutting down:
    /// shutdown cancels the dialler and listener tasks once the links are closed, which ends the sleep.
    func pause(_ duration: Duration) async -> Bool {
        guard !isShuttingDown else { return false }
        do { try await Task.sleep(for: duration) } catch { return false }
        return !isShuttingDown && !Task.isCancelled
    }

    /// Turns any failure of a connection attempt into a ``PaddingtonError`` with the right code.
    func classify(_ error: any Error, controller: LinkController?, during step: String) -> PaddingtonError {
        if controller?.stepTimedOut == true {
            return PaddingtonError(.timeout, "\(step) took longer than \(options.handshakeTimeout)")
        }
        if let error = error as? PaddingtonError { return error }
        return PaddingtonError(.transport, "\(step) failed", cause: error)
    }
}
