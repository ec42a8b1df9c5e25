import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A paddington service: listens for its clients, dials its servers, and exchanges encrypted
/// messages with every peer that completes the handshake.
///
/// A `Mesh` is an instance, not a global: several can run in one process. Register handlers, then
/// run it, usually in a `ServiceGroup` so that SIGTERM shuts it down gracefully.
///
/// ```swift
/// let mesh = Mesh(configuration: try ServiceConfiguration.load(from: "service.toml"), logger: logger)
/// mesh.onMessage { message, context in
///     try await context.reply("echo: \(message.payload)")
/// }
/// let group = ServiceGroup(services: [mesh], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
///
/// While it runs:
/// * the listener (when there are clients) refuses addresses no client is allowed from before the
///   WebSocket upgrade, then authenticates each connection by trial decryption;
/// * each server entry is dialled and re-dialled with jittered exponential backoff;
/// * ``send(_:to:zone:)`` hands a payload to the peer's link, waiting while the link's send budget is spent;
/// * each link's read loop queues what it receives; delivery tasks hand it to the most specific handler
///   registered with ``onMessage(from:zone:_:)`` (in order per peer by default);
/// * ``events`` reports listening, connections, disconnections (with the reason) and refusals.
public actor Mesh: Service {
    private enum State {
        case idle
        case running
        case finished
    }

    /// What the run loop is asked to do.
    private enum Command: Sendable {
        /// Start a dialler for each server a reload added.
        case dialNewServers
        case shutdown
    }

    /// The service's identity, listen address and peers: the configuration in force, which
    /// ``reload(_:reconnectNow:)`` replaces and the mesh itself changes when an invitation is used or
    /// a rotation's previous keys are retired.
    public nonisolated var configuration: ServiceConfiguration { core.configuration }
    /// Timeouts, limits, liveness and reconnection.
    public nonisolated let options: MeshConfiguration

    nonisolated let core: MeshCore
    private nonisolated let listener: Listener
    private nonisolated let commands: AsyncStream<Command>
    /// Whether the listener runs: the service had clients when it was made.
    private nonisolated let listens: Bool
    private nonisolated let commandSink: AsyncStream<Command>.Continuation
    private var state: State = .idle

    /// Creates a mesh. Nothing happens until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: name, listen address, clients and servers.
    ///   - options: timeouts and limits; the defaults suit most deployments.
    ///   - inboundInterceptors: middleware every received message passes through, in order, before its
    ///     handler (``InboundInterceptor``).
    ///   - outboundInterceptors: middleware every sent payload passes through, in order, before the
    ///     link seals it (``OutboundInterceptor``).
    ///   - requestMiddleware: middleware around every request, in order: requests this service answers
    ///     and requests it sends (``RequestMiddleware``; ``RequestLogging`` and ``RequestMetrics`` are
    ///     two).
    ///   - eventLoopGroup: where the sockets run; by default NIO's shared singleton group.
    ///   - logger: where the mesh logs. It adds `paddington.service` to the metadata.
    public init(
        configuration: ServiceConfiguration,
        options: MeshConfiguration = MeshConfiguration(),
        inboundInterceptors: [any InboundInterceptor] = [],
        outboundInterceptors: [any OutboundInterceptor] = [],
        requestMiddleware: [any RequestMiddleware] = [],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.options = options
        var logger = logger
        logger[metadataKey: "paddington.service"] = "\(configuration.name)"
        core = MeshCore(
            configuration: configuration, options: options, inboundInterceptors: inboundInterceptors,
            outboundInterceptors: outboundInterceptors, requestMiddleware: requestMiddleware, eventLoopGroup: eventLoopGroup,
            logger: logger)
        (commands, commandSink) = AsyncStream.makeStream(of: Command.self)
        listens = !configuration.clients.isEmpty
        KeyReplacement.register(on: core)
        listener = Listener(core: core)
    }

    // MARK: Handlers

    /// Registers a handler for messages from `sender` in `zone` (nil matches any). The most specific
    /// match wins: sender and zone, then sender, then zone, then the catch-all. Registering again for
    /// the same sender and zone replaces the handler.
    ///
    /// Messages no handler matches are dropped, counted in ``MeshStatistics/unhandledMessages`` and
    /// reported once per peer in the log.
    public nonisolated func onMessage(from sender: String? = nil, zone: String? = nil, _ handler: @escaping MessageHandler) {
        core.pipeline.handlers.register(sender: sender, zone: zone, handler)
    }

    /// Removes the handler registered for exactly this sender and zone.
    ///
    /// - Returns: whether there was one.
    @discardableResult
    public nonisolated func removeHandler(from sender: String? = nil, zone: String? = nil) -> Bool {
        core.pipeline.handlers.remove(sender: sender, zone: zone)
    }

    // MARK: Sending

    /// Sends a text payload to `name@zone`.
    ///
    /// The payload passes the outbound interceptors, then the link's codec seals it. Returns once the
    /// link has accepted the frame (not when the peer has read it), waiting while the link's send
    /// budget is spent.
    ///
    /// - Throws: `PaddingtonError.Code.peerNotConnected` when there is no link;
    ///   `PaddingtonError.Code.payloadTooLarge`; `PaddingtonError.Code.invalidArgument`
    ///   for an empty payload or, on a protocol 1 link to a peer without agent frames (a Rust peer), the
    ///   reserved `KEEPALIVE`;
    ///   `PaddingtonError.Code.connectionClosed` when the link is closing.
    public nonisolated func send(_ payload: String, to name: String, zone: String = "default") async throws {
        try await send(OutboundMessage(recipient: PeerID(name: name, zone: zone), content: .text(payload)))
    }

    /// Sends a byte payload to `name@zone`. To a Rust peer (protocol 1 without agent frames) the bytes
    /// must be UTF-8 text: that protocol carries JSON strings only; between two of our peers any bytes
    /// travel (protocol 1 then carries them inside agent frames).
    ///
    /// - Throws: as ``send(_:to:zone:)``, and `PaddingtonError.Code.invalidArgument` for
    ///   bytes that are not UTF-8 to a Rust peer.
    public nonisolated func send(bytes: [UInt8], to name: String, zone: String = "default") async throws {
        try await send(OutboundMessage(recipient: PeerID(name: name, zone: zone), content: .bytes(bytes)))
    }

    private nonisolated func send(_ message: OutboundMessage) async throws {
        let interceptors = core.outboundInterceptors
        if interceptors.isEmpty {
            try await transmit(message)
        } else {
            try await intercept(from: 0, message, interceptors)
        }
    }

    private nonisolated func intercept(from index: Int, _ message: OutboundMessage, _ interceptors: [any OutboundInterceptor]) async throws {
        guard index < interceptors.count else {
            try await transmit(message)
            return
        }
        try await interceptors[index].intercept(message) { message in
            try await self.intercept(from: index + 1, message, interceptors)
        }
    }

    private nonisolated func transmit(_ message: OutboundMessage) async throws {
        guard let link = core.registry.link(for: message.recipient) else {
            throw PaddingtonError(.peerNotConnected, "\(message.recipient) is not connected")
        }
        try await link.send(message.content)
        link.messagesOut.add(1, ordering: .relaxed)
        link.metrics.messagesOut.increment()
        core.statistics.messageSent()
    }

    // MARK: Peers and events

    /// A new stream of the mesh's events, from now on. Each access is a subscriber of its own, so any
    /// number of readers see every event; a reader that falls behind loses its own oldest events beyond
    /// ``MeshConfiguration/eventBufferSize``. Every stream finishes when the mesh stops.
    ///
    /// Take the stream before you start the mesh to see its first events:
    /// ```swift
    /// let events = mesh.events
    /// Task { for await event in events { print(event) } }
    /// ```
    public nonisolated var events: AsyncStream<MeshEvent> { core.events.subscribe() }

    /// Counters of refusals, disconnections and messages since the mesh was created.
    public nonisolated var statistics: MeshStatistics { core.statistics.snapshot }

    /// Message handler invocations running now (at most ``MeshConfiguration/maxConcurrentHandlers``): the
    /// `workers` of the Rust crate's health check.
    public nonisolated var runningHandlers: Int { core.pipeline.handlerSlots.inUse }

    /// The peers with an established link now.
    public nonisolated var connectedPeers: [PeerInfo] { core.registry.connectedPeers }

    /// The established links: each peer, how long it has been connected and the messages each way.
    public nonisolated var links: [LinkStatus] { core.registry.links.map(\.status) }

    /// Whether a link to `name@zone` is established now.
    public nonisolated func isConnected(_ name: String, zone: String = "default") -> Bool {
        core.registry.link(for: PeerID(name: name, zone: zone)) != nil
    }

    /// Waits until a link to `name@zone` is established (returns at once if it is) and returns the
    /// peer's details.
    ///
    /// - Throws: `PaddingtonError.Code.timeout` after `timeout`;
    ///   `PaddingtonError.Code.shutdown` when the mesh shuts down first; `CancellationError`.
    @discardableResult
    public nonisolated func waitUntilConnected(_ name: String, zone: String = "default", timeout: Duration) async throws -> PeerInfo {
        let peer = PeerID(name: name, zone: zone)
        let registry = core.registry
        return try await withThrowingTaskGroup(of: PeerInfo?.self) { group in
            group.addTask { try await registry.waitForLink(peer) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let info = first else {
                throw PaddingtonError(.timeout, "\(peer) did not connect within \(timeout)")
            }
            return info
        }
    }

    /// Closes the link to `name@zone` (a Close frame after pending frames). A server entry is re-dialled.
    public nonisolated func disconnect(_ name: String, zone: String = "default") {
        core.registry.link(for: PeerID(name: name, zone: zone))?
            .close(reason: PaddingtonError(.connectionClosed, "disconnected by this service"))
    }

    /// Waits until the listener is bound and returns its port (useful with port 0).
    ///
    /// - Throws: when the service has no clients (no listener) or shuts down first.
    public nonisolated func listeningPort() async throws -> Int {
        guard listens else {
            throw PaddingtonError(.invalidArgument, "\(configuration.name) has no clients, so it does not listen")
        }
        return try await listener.port()
    }

    // MARK: Layers above the transport

    /// Adds a tap at the intercept stage of the inbound pipeline (see ``InboundTap``).
    package nonisolated func addInboundTap(_ tap: any InboundTap) {
        core.pipeline.addTap(tap)
    }

    /// Adds an observer of links going up and down (see ``LinkObserver``).
    package nonisolated func addLinkObserver(_ observer: any LinkObserver) {
        core.registry.addObserver(observer)
    }

    // MARK: Running

    /// Stops the mesh: closes the listener and every link (each after the frames it accepted), waits up
    /// to ``MeshConfiguration/shutdownTimeout`` for the links' handlers, then cancels what is left.
    ///
    /// Run on its own, ``run()`` then returns. Run in a `ServiceGroup`, the mesh stays a quiet member
    /// until the group shuts down (a service that returns early would end the whole group with an
    /// error): ``run()`` returns when the group's graceful shutdown (SIGTERM, or
    /// `ServiceGroup.triggerGracefulShutdown()`) or cancellation reaches it. To end the whole group from
    /// a handler, call the group's `triggerGracefulShutdown()` instead.
    public nonisolated func shutdown() {
        commandSink.yield(.shutdown)
        commandSink.finish()
    }

    /// Puts a new configuration in force without a restart: added clients may connect, removed clients
    /// and servers are disconnected, added servers are dialled, and changed keys apply to new
    /// handshakes. Live links of changed peers stay up; with `reconnectNow`, links to changed servers
    /// are closed so that they are dialled again at once with the new entry. The TLS certificate and
    /// key files are read again: new connections get a renewed certificate.
    ///
    /// - Returns: what changed.
    /// - Throws: `PaddingtonError.Code.invalidConfiguration`, with nothing changed, when its TLS files
    ///   cannot be used, or when the new configuration changes what only a restart can: the name, the listen address or port, or
    ///   clients for a service that started without any (it does not listen).
    @discardableResult
    public nonisolated func reload(_ configuration: ServiceConfiguration, reconnectNow: Bool = false) throws -> ReloadSummary {
        let current = core.configuration
        var needsRestart: [String] = []
        if configuration.name != current.name { needsRestart.append("the name (\(current.name) → \(configuration.name))") }
        if configuration.ip != current.ip || configuration.port != current.port {
            needsRestart.append("the listen address (\(current.ip) port \(current.port) → \(configuration.ip) port \(configuration.port))")
        }
        if !listens, !configuration.clients.isEmpty {
            needsRestart.append("clients for a service that started without any, so it does not listen")
        }
        if configuration.healthcheckPort != current.healthcheckPort {
            needsRestart.append("heathcheck_port (\(current.healthcheckPort.map(String.init) ?? "none") → \(configuration.healthcheckPort.map(String.init) ?? "none"))")
        }
        if (configuration.tlsCertificate == nil) != (current.tlsCertificate == nil) {
            needsRestart.append("whether the listener speaks TLS")
        }
        guard needsRestart.isEmpty else {
            throw PaddingtonError(.invalidConfiguration, "the new configuration changes \(needsRestart.joined(separator: " and ")), which needs a restart; nothing was changed")
        }
        // The certificate files are read again, so that a renewed certificate needs no restart.
        let tls = listens ? try TLSSetup.serverContext(for: configuration, source: "the new configuration") : nil
        var summary = core.replaceConfiguration(with: configuration)
        if listens {
            core.serverTLS = tls
            summary.tlsCertificateReloaded = tls != nil
        }
        // A peer can be both a client and a server (one link, whoever dialled): only the link of the
        // role that changed is closed.
        func close(_ peers: [PeerID], dialled: Bool, _ reason: String) {
            for peer in peers {
                guard let link = core.registry.link(for: peer), link.info.weDialled == dialled else { continue }
                link.close(reason: PaddingtonError(.connectionClosed, reason))
            }
        }
        close(summary.clientsRemoved, dialled: false, "removed from the configuration by a reload")
        close(summary.serversRemoved, dialled: true, "removed from the configuration by a reload")
        if reconnectNow { close(summary.serversChanged, dialled: true, "reconnecting with a reloaded server entry") }
        if !summary.serversAdded.isEmpty { commandSink.yield(.dialNewServers) }
        core.logger.notice("configuration reloaded", metadata: ["changes": "\(summary)"])
        return summary
    }

    /// Returns once the changes the mesh made to its own configuration so far were handed to
    /// ``MeshConfiguration/configurationChanged`` (so that a reload reads the file with them).
    package nonisolated func configurationChangesSaved() async {
        await core.changesSaved()
    }


    /// Runs the service until it is shut down (``shutdown()``, graceful shutdown of its `ServiceGroup`)
    /// or cancelled. A mesh runs once: create a new one to run again.
    public func run() async throws {
        guard case .idle = state else {
            throw PaddingtonError(.invalidArgument, "a Mesh runs once; create a new one")
        }
        state = .running
        defer {
            state = .finished
            core.events.finish()
            listener.finish(PaddingtonError(.shutdown, "the mesh stopped"))
        }
        let configuration = self.configuration
        let listens = self.listens
        if !listens {
            listener.finish(PaddingtonError(.invalidArgument, "\(configuration.name) has no clients, so it does not listen"))
        }
        let logger = core.logger
        logger.info("starting", metadata: ["clients": "\(configuration.clients.count)", "servers": "\(configuration.servers.count)"])
        let inGroup = ServiceGroupMembership.isInServiceGroup
        let commands = self.commands
        let core = self.core
        let listener = self.listener
        let session = LinkSession(core: core, mesh: self)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if listens {
                    group.addTask { await listener.run(session: session) }
                }
                let dialer = Dialer(core: core, session: session)
                // One dialler per server; a reload that adds servers asks for theirs.
                for server in core.serversToDial() {
                    group.addTask { await dialer.run(PeerID(name: server.name, zone: server.zone)) }
                }
                for await command in commands {
                    guard case .dialNewServers = command else { break }
                    for server in core.serversToDial() {
                        group.addTask { await dialer.run(PeerID(name: server.name, zone: server.zone)) }
                    }
                }
                await Self.closeEverything(core: core, listener: listener)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        let stoppedByGroup = Task.isShuttingDownGracefully || Task.isCancelled
        if inGroup, !stoppedByGroup {
            // shutdown() was called directly: stay in the group until it shuts down.
            logger.notice("stopped by shutdown(); staying in the ServiceGroup until it shuts down")
            try? await gracefulShutdown()
        }
        logger.info("stopped")
    }

    private static func closeEverything(core: MeshCore, listener: Listener) async {
        core.admission.close()
        let links = core.registry.beginShutdown()
        await listener.close()
        for link in links {
            link.close(reason: PaddingtonError(.shutdown, "the service is shutting down"))
        }
        // Let the sessions see their links close and finish their handlers, within the timeout.
        let registry = core.registry
        let timeout = core.options.shutdownTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await registry.waitUntilNoLinks() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        for link in registry.links {
            link.abort(reason: PaddingtonError(.shutdown, "shutdown timeout"))
        }
    }
}
