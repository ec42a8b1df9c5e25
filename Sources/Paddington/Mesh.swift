import Logging
import NIOConcurrencyHelpers
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
/// * ``send(_:to:zone:)`` seals and writes a payload, waiting while the peer's socket is full;
/// * received payloads go to the most specific handler registered with ``onMessage(from:zone:_:)``;
/// * ``events`` reports listening, connections, disconnections (with the reason) and refusals.
public actor Mesh: Service {
    private enum State {
        case idle
        case running
        case finished
    }

    /// The service's identity, listen address and peers.
    public nonisolated let configuration: ServiceConfiguration
    /// Timeouts, limits, liveness and reconnection.
    public nonisolated let options: MeshConfiguration
    /// Events, oldest dropped beyond ``MeshConfiguration/eventBufferSize``. Meant for one reader.
    public nonisolated let events: AsyncStream<MeshEvent>

    nonisolated let logger: Logger
    nonisolated let exchange: Exchange
    nonisolated let eventSink: AsyncStream<MeshEvent>.Continuation
    nonisolated let eventLoopGroup: any EventLoopGroup
    nonisolated let statisticsRecorder: StatisticsRecorder
    private nonisolated let shutdownStream: AsyncStream<Void>
    private nonisolated let shutdownTrigger: AsyncStream<Void>.Continuation
    private nonisolated let listenState = NIOLockedValueBox<ListenState>(ListenState())
    private var state: State = .idle

    struct ListenState {
        var channel: (any Channel)?
        var port: Int?
        var failure: PaddingtonError?
        var waiters: [CheckedContinuation<Int, any Error>] = []
    }

    /// Creates a mesh. Nothing happens until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: name, listen address, clients and servers.
    ///   - options: timeouts and limits; the defaults suit most deployments.
    ///   - logger: where the mesh logs. It adds `paddington.service` to the metadata.
    public init(configuration: ServiceConfiguration, options: MeshConfiguration = MeshConfiguration(), logger: Logger) {
        self.configuration = configuration
        self.options = options
        var logger = logger
        logger[metadataKey: "paddington.service"] = "\(configuration.name)"
        self.logger = logger
        self.exchange = Exchange(maxConcurrentHandlers: options.maxConcurrentHandlers)
        (events, eventSink) = AsyncStream.makeStream(of: MeshEvent.self, bufferingPolicy: .bufferingNewest(options.eventBufferSize))
        (shutdownStream, shutdownTrigger) = AsyncStream.makeStream(of: Void.self)
        eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        statisticsRecorder = StatisticsRecorder(service: configuration.name)
    }

    // MARK: Public API

    /// Registers a handler for messages from `sender` in `zone` (nil matches any). The most specific
    /// match wins: sender and zone, then sender, then zone, then the catch-all.
    public nonisolated func onMessage(from sender: String? = nil, zone: String? = nil, _ handler: @escaping MessageHandler) {
        exchange.addHandler(sender: sender, zone: zone, handler)
    }

    /// Seals `payload` and hands it to the link to `name@zone`.
    ///
    /// Returns once the frame is handed to the connection (not when the peer has read it). Waits
    /// while the peer's socket is full.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/peerNotConnected`` when there is no link;
    ///   ``PaddingtonError/Code-swift.struct/payloadTooLarge``; ``PaddingtonError/Code-swift.struct/invalidArgument``
    ///   for an empty payload or the reserved `KEEPALIVE`; ``PaddingtonError/Code-swift.struct/connectionClosed``
    ///   when the link drops before the frame is handed over.
    public nonisolated func send(_ payload: String, to name: String, zone: String = "default") async throws {
        let peer = PeerID(name: name, zone: zone)
        guard let connection = exchange.connection(for: peer) else {
            throw PaddingtonError(.peerNotConnected, "\(peer) is not connected")
        }
        try await connection.send(payload)
        statisticsRecorder.messageSent()
    }

    /// Counters of refusals, disconnections and messages since the mesh was created.
    public nonisolated var statistics: MeshStatistics { statisticsRecorder.snapshot }

    /// The peers with an established link now.
    public nonisolated var connectedPeers: [PeerInfo] { exchange.connectedPeers }

    /// Closes the link to `name@zone` (a Close frame after pending frames). A server entry is re-dialled.
    public nonisolated func disconnect(_ name: String, zone: String = "default") {
        exchange.connection(for: PeerID(name: name, zone: zone))?
            .close(reason: PaddingtonError(.connectionClosed, "disconnected by this service"))
    }

    /// Waits until the listener is bound and returns its port (useful with port 0).
    ///
    /// - Throws: when the service has no clients (no listener) or shuts down first.
    public nonisolated func listeningPort() async throws -> Int {
        guard !configuration.clients.isEmpty else {
            throw PaddingtonError(.invalidArgument, "\(configuration.name) has no clients, so it does not listen")
        }
        return try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<Int, any Error>? = listenState.withLockedValue { state in
                if let port = state.port { return .success(port) }
                if let failure = state.failure { return .failure(failure) }
                state.waiters.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    /// Starts a graceful shutdown, as a `ServiceGroup` does on SIGTERM.
    public nonisolated func shutdown() {
        shutdownTrigger.yield()
        shutdownTrigger.finish()
    }

    /// Runs the service until it is shut down or cancelled.
    public func run() async throws {
        guard case .idle = state else {
            throw PaddingtonError(.invalidArgument, "a Mesh runs once; create a new one")
        }
        state = .running
        defer {
            state = .finished
            eventSink.finish()
            failListenWaiters(PaddingtonError(.shutdown, "the mesh stopped"))
        }
        logger.info("starting", metadata: ["clients": "\(configuration.clients.count)", "servers": "\(configuration.servers.count)"])
        let shutdownStream = self.shutdownStream
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if !configuration.clients.isEmpty {
                    group.addTask { await self.runListener() }
                }
                for server in configuration.servers {
                    group.addTask { await self.runDialer(server) }
                }
                for await _ in shutdownStream { break }
                await self.closeEverything()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.shutdown()
        }
        logger.info("stopped")
    }

    // MARK: Shutdown

    private nonisolated func closeEverything() async {
        let connections = exchange.beginShutdown()
        let listener = listenState.withLockedValue { $0.channel }
        try? await listener?.close()
        for connection in connections {
            connection.close(reason: PaddingtonError(.shutdown, "the service is shutting down"))
        }
        // Let the session loops see their links close and finish their handlers, within the timeout.
        let exchange = self.exchange
        let timeout = options.shutdownTimeout
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await exchange.waitUntilNoConnections() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        for connection in exchange.allConnections {
            connection.abort(reason: PaddingtonError(.shutdown, "shutdown timeout"))
        }
    }

    nonisolated func listenBound(channel: any Channel, port: Int) {
        let waiters = listenState.withLockedValue { state -> [CheckedContinuation<Int, any Error>] in
            state.channel = channel
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    nonisolated func listenUnbound() {
        listenState.withLockedValue { state in
            state.channel = nil
            state.port = nil
        }
    }

    private nonisolated func failListenWaiters(_ error: PaddingtonError) {
        let waiters = listenState.withLockedValue { state -> [CheckedContinuation<Int, any Error>] in
            state.failure = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    nonisolated func emit(_ event: MeshEvent) {
        statisticsRecorder.record(event)
        eventSink.yield(event)
    }

    /// Sleeps for `duration` (a backoff, a standby poll). Returns false when the mesh is shutting down:
    /// shutdown cancels the dialler and listener tasks once the links are closed, which ends the sleep.
    nonisolated func pause(_ duration: Duration) async -> Bool {
        guard !exchange.isShuttingDown else { return false }
        do { try await Task.sleep(for: duration) } catch { return false }
        return !exchange.isShuttingDown && !Task.isCancelled
    }
}
