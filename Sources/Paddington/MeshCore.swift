import Foundation
import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOSSL
import PaddingtonCrypto
import NIOCore

/// What the listener, the diallers and the link sessions of one ``Mesh`` share: the configuration,
/// the registry of links, admission limits, the inbound pipeline, the event hub and the counters.
/// One per mesh; nothing in it is global.
final class MeshCore: Sendable {
    /// What a reload can change, read as one snapshot.
    private struct Live {
        var configuration: ServiceConfiguration {
            // Derived again only when the clients changed (it derives each client's protocol 2 key).
            didSet { if configuration.clients != oldValue.clients { clientKeys = ClientKeys(configuration.clients) } }
        }
        private(set) var clientKeys: ClientKeys
        /// The servers a dialler task runs for (at most one each).
        var dialling: Set<PeerID> = []

        init(configuration: ServiceConfiguration) {
            self.configuration = configuration
            clientKeys = ClientKeys(configuration.clients)
        }
    }

    private let live: NIOLockedValueBox<Live>
    private let tlsContext = NIOLockedValueBox<NIOSSLContext?>(nil)
    /// The listener's TLS context, nil for plain ws://: made at each bind and each reload (a renewed
    /// certificate applies to the next connection).
    var serverTLS: NIOSSLContext? {
        get { tlsContext.withLockedValue { $0 } }
        set { tlsContext.withLockedValue { $0 = newValue } }
    }
    /// The last batch of changes being handed to the application (the next one waits for it).
    private let saving = NIOLockedValueBox<Task<Bool, Never>?>(nil)
    /// This service's name (a reload cannot change it).
    let name: String
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
    /// When a protocol 2 sender marks a frame the last under its key.
    let rekeyPolicy: ProtocolTwo.RekeyPolicy

    init(
        configuration: ServiceConfiguration,
        options: MeshConfiguration,
        inboundInterceptors: [any InboundInterceptor],
        outboundInterceptors: [any OutboundInterceptor],
        requestMiddleware: [any RequestMiddleware] = [],
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) {
        live = NIOLockedValueBox(Live(configuration: configuration))
        name = configuration.name
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
        rekeyPolicy = ProtocolTwo.RekeyPolicy(
            frames: options.rekey.frames, bytes: options.rekey.bytes, interval: options.rekey.interval)
    }

    var isShuttingDown: Bool { registry.isShuttingDown }

    /// The configuration in force (the last one loaded, with the changes the mesh made since).
    var configuration: ServiceConfiguration { live.withLockedValue { $0.configuration } }

    /// The key pairs clients may authenticate with now.
    var clientKeys: ClientKeys { live.withLockedValue { $0.clientKeys } }

    /// The client to try first on a connection from `address`, when that cannot change the outcome:
    /// when no two clients share keys, the client that last authenticated from an address may be tried
    /// first on a new connection from it (a reconnect costs one trial, not a scan) without changing
    /// which client is found (the only one whose keys open the frame).
    func preferredClient(from address: IPAddress, keys: ClientKeys) -> PeerID? {
        keys.keysAreDistinct ? registry.lastClient(from: address) : nil
    }

    // MARK: Servers and their diallers

    /// The server entry for `peer` in force now, or nil once a reload removed it.
    func server(_ peer: PeerID) -> ServerEntry? {
        live.withLockedValue { live in live.configuration.servers.first { $0.name == peer.name && $0.zone == peer.zone } }
    }

    /// The servers that have no dialler yet, now marked as having one: start a dialler for each.
    func serversToDial() -> [ServerEntry] {
        live.withLockedValue { live in
            let new = live.configuration.servers.filter { !live.dialling.contains(PeerID(name: $0.name, zone: $0.zone)) }
            for server in new { live.dialling.insert(PeerID(name: server.name, zone: server.zone)) }
            return new
        }
    }

    /// Whether the dialler of `peer` should end because its server is no longer configured; if so, it
    /// is marked as ended (a later reload that adds the server again starts a new one).
    func dialerShouldEnd(_ peer: PeerID) -> Bool {
        live.withLockedValue { live in
            guard !live.configuration.servers.contains(where: { $0.name == peer.name && $0.zone == peer.zone }) else { return false }
            live.dialling.remove(peer)
            return true
        }
    }

    // MARK: Reloading and changes of its own

    /// Puts `configuration` in force and says what changed. The caller has checked that it may.
    func replaceConfiguration(with configuration: ServiceConfiguration) -> ReloadSummary {
        live.withLockedValue { live in
            let summary = ReloadSummary(from: live.configuration, to: configuration)
            live.configuration = configuration
            return summary
        }
    }

    /// A client authenticated with `keys`: makes the changes that follow, and hands them to
    /// ``MeshConfiguration/configurationChanged`` in order, off the caller's task. Returns the keys to
    /// send the client when its single-use invitation is to be replaced over this link, with the save
    /// to wait for before sending them.
    func keysUsed(by peer: PeerID, keys: EnvelopeKeys) -> (keys: EnvelopeKeys, saved: Task<Bool, Never>?)? {
        let (changes, replacement) = clientAuthenticated(peer, keys: keys)
        let saved = changes.isEmpty ? nil : persist(changes)
        return replacement.map { ($0, saved) }
    }

    /// Hands `changes` to ``MeshConfiguration/configurationChanged``, in order after every batch before
    /// it. The task's value says whether every change of the batch was saved.
    @discardableResult
    func persist(_ changes: [ConfigurationChange]) -> Task<Bool, Never>? {
        guard let save = options.configurationChanged else { return nil }
        let logger = self.logger
        return saving.withLockedValue { last in
            let previous = last
            let task = Task<Bool, Never> {
                _ = await previous?.value
                var saved = true
                for change in changes {
                    do {
                        try await save(change)
                    } catch {
                        saved = false
                        logger.error("a configuration change was not saved", metadata: ["change": "\(change)", "error": "\(error)"])
                    }
                }
                return saved
            }
            last = task
            return task
        }
    }

    /// Returns once every change handed to ``MeshConfiguration/configurationChanged`` so far was handled
    /// (before a reload reads the file, so that it reads them).
    func changesSaved() async {
        _ = await saving.withLockedValue({ $0 })?.value
    }

    /// Undoes a single-use replacement the client did not store (or this side could not save): the
    /// invitation's keys are the client's again, and its next connection tries again.
    func abandonReplacement(for peer: PeerID, keys fresh: EnvelopeKeys, save: Bool) {
        let abandoned = live.withLockedValue { live -> Bool in
            guard let client = live.configuration.clients.first(where: { $0.name == peer.name && $0.zone == peer.zone }),
                client.keys == fresh, client.previousKeys != nil
            else { return false }
            ConfigurationChange.singleUseRetry(client: peer).apply(to: &live.configuration)
            return true
        }
        guard abandoned else { return }
        logger.info("configuration changed", metadata: ["change": "\(ConfigurationChange.singleUseRetry(client: peer))"])
        if save { persist([.singleUseRetry(client: peer)]) }
    }

    /// Whether a link just registered is still configured: a client whose `keys` are still accepted
    /// (inbound), or a server still dialled (outbound). A reload during its handshake may have removed it.
    func stillConfigured(_ peer: PeerID, clientKeys keys: EnvelopeKeys?, now: Date = Date()) -> Bool {
        live.withLockedValue { live in
            guard let keys else { return live.configuration.servers.contains { $0.name == peer.name && $0.zone == peer.zone } }
            return live.clientKeys.accepted(at: now).entries.contains { $0.name == peer.name && $0.zone == peer.zone && $0.keys == keys }
        }
    }

    /// The servers a dialler runs for (for tests).
    var diallingPeers: Set<PeerID> { live.withLockedValue { $0.dialling } }

    /// A client authenticated with `keys`: its invitation no longer expires; connecting with its current
    /// keys retires its previous ones; a single-use invitation's keys are replaced. Returns the changes
    /// made, and the keys to send the client when it is to receive new ones.
    func clientAuthenticated(_ peer: PeerID, keys: EnvelopeKeys, now: Date = Date()) -> ([ConfigurationChange], EnvelopeKeys?) {
        // Single-use invitations are replaced only when the replacement can be kept.
        let canReplace = options.configurationChanged != nil
        let (changes, replacement) = live.withLockedValue { live -> ([ConfigurationChange], EnvelopeKeys?) in
            guard let client = live.configuration.clients.first(where: { $0.name == peer.name && $0.zone == peer.zone }) else { return ([], nil) }
            var changes: [ConfigurationChange] = []
            var replacement: EnvelopeKeys?
            if client.singleUse, canReplace {
                if keys == client.keys, client.previousKeys == nil {
                    // First use: new keys, the invitation's kept until the client confirms (or its deadline).
                    let fresh = EnvelopeKeys.generate()
                    let until = client.expires.map { max($0, now.addingTimeInterval(3600)) } ?? now.addingTimeInterval(24 * 3600)
                    changes.append(.singleUseStarted(client: peer, keys: fresh, previousUntil: until))
                    replacement = fresh
                } else if keys == client.keys {
                    // The client dials with the keys it was sent: the invitation's are dead.
                    changes.append(.clientKeysReplaced(client: peer, keys: keys))
                } else if keys == client.previousKeys {
                    // It did not keep the keys it was sent (or never got them): send them again.
                    replacement = client.keys
                }
            } else if keys == client.keys {
                if client.expires != nil { changes.append(.invitationUsed(client: peer)) }
                if client.previousKeys != nil { changes.append(.previousKeysRetired(client: peer)) }
            }
            guard !changes.isEmpty else { return ([], replacement) }
            for change in changes { change.apply(to: &live.configuration) }
            return (changes, replacement)
        }
        for change in changes { logger.info("configuration changed", metadata: ["change": "\(change)"]) }
        return (changes, replacement)
    }

    /// Makes `change` in the configuration in force (the keys of a single-use invitation).
    func apply(_ change: ConfigurationChange) {
        live.withLockedValue { live in
            change.apply(to: &live.configuration)
        }
        logger.info("configuration changed", metadata: ["change": "\(change)"])
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
