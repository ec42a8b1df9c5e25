import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Paddington
import Prometheus
import ServiceLifecycle

/// The health and metrics endpoint of a service: the Rust crate's `GET /health` (`200`,
/// `application/json`, `{"status":"ok","workers":N}`) and `GET /metrics` (the Prometheus text format
/// of a `PrometheusCollectorRegistry`).
///
/// Any other path is answered `404`, another method on these paths `405` (with `Allow: GET, HEAD`), a
/// request that is not HTTP/1 or whose head exceeds ``Configuration/maxRequestHeadBytes`` `400`, and the
/// connection is then closed. A request not received whole within ``Configuration/requestTimeout`` of the
/// connection's start or of the previous response is answered `408` and the connection closed, so slow
/// clients cannot hold the ``Configuration/maxConnections`` slots; a connection that sends nothing for
/// ``Configuration/idleTimeout`` is closed. Run it beside the mesh in the same `ServiceGroup`:
///
/// ```swift
/// let registry = PrometheusCollectorRegistry()
/// var options = MeshConfiguration()
/// options.metricsFactory = PrometheusMetricsFactory(registry: registry)
/// let mesh = Mesh(configuration: config, options: options, logger: logger)
/// let health = HealthServer(mesh: mesh, registry: registry, logger: logger)
/// let group = ServiceGroup(services: [mesh, health], gracefulShutdownSignals: [.sigterm], logger: logger)
/// ```
///
/// What it reveals: peer names, zones, protocol versions and traffic volumes (no keys); bind it where
/// only the monitoring system can reach it.
public actor HealthServer: Service {
    /// Where the server listens and its limits.
    public struct Configuration: Sendable {
        /// The address to bind (the service's `ip`, as the Rust crate binds its health server).
        public var host: String
        /// The port to bind (`heathcheck_port`); 0 picks a free one (see ``HealthServer/port()``).
        public var port: Int
        /// The longest request head (request line and headers) accepted, and the most body bytes read.
        public var maxRequestHeadBytes: Int
        /// A connection that sends nothing for this long is closed.
        public var idleTimeout: Duration
        /// A whole request (head and body) must arrive within this long of the connection's start or of the
        /// end of the previous response; otherwise it is answered `408` and the connection is closed.
        /// Unlike ``idleTimeout`` it is not restarted by each byte, so a client trickling bytes cannot keep
        /// a connection.
        public var requestTimeout: Duration
        /// Connections served at once; one more is closed at once.
        public var maxConnections: Int

        /// A server on `host:port` with the given limits.
        public init(
            host: String = "127.0.0.1", port: Int = 0, maxRequestHeadBytes: Int = 16 << 10, idleTimeout: Duration = .seconds(10),
            requestTimeout: Duration = .seconds(10), maxConnections: Int = 32
        ) {
            self.host = host
            self.port = port
            self.maxRequestHeadBytes = maxRequestHeadBytes
            self.idleTimeout = idleTimeout
            self.requestTimeout = requestTimeout
            self.maxConnections = maxConnections
        }
    }

    private let configuration: Configuration
    private let responder: HealthResponder
    private let logger: Logger
    private let group: any EventLoopGroup
    private var portWaiters: [CheckedContinuation<Int, any Error>] = []
    private var boundPort: Result<Int, any Error>?

    /// A server that reports `workers()` in `/health` and `registry` in `/metrics`.
    public init(
        configuration: Configuration, registry: PrometheusCollectorRegistry, workers: @escaping @Sendable () -> Int,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.configuration = configuration
        responder = HealthResponder(registry: registry, workers: workers)
        self.logger = logger
        group = eventLoopGroup
    }

    /// A server for `mesh`, bound where its configuration says (`ip` and `heathcheck_port`, port 0 when
    /// that is not set), reporting ``Paddington/Mesh/runningHandlers`` as `workers`.
    public init(
        mesh: Mesh, registry: PrometheusCollectorRegistry, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.init(
            configuration: Configuration(host: mesh.configuration.ip.description, port: mesh.configuration.healthcheckPort ?? 0),
            registry: registry, workers: { mesh.runningHandlers }, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// Waits until the server is bound and returns its port (useful with port 0).
    ///
    /// - Throws: why it could not be bound.
    public func port() async throws -> Int {
        if let boundPort { return try boundPort.get() }
        return try await withCheckedThrowingContinuation { portWaiters.append($0) }
    }

    private func bound(_ result: Result<Int, any Error>) {
        boundPort = result
        let waiters = portWaiters
        portWaiters = []
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Binds and serves until graceful shutdown or cancellation. Connections in progress finish their
    /// current response.
    ///
    /// - Throws: `PaddingtonError.Code.transport` when the address cannot be bound.
    public func run() async throws {
        let configuration = self.configuration
        let server: NIOAsyncChannel<ChannelClaim<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Self.configure(channel, configuration: configuration)
                    }
                }
        } catch {
            let failure = PaddingtonError(
                .transport, "cannot bind the health server at \(configuration.host):\(configuration.port)", cause: error)
            bound(.failure(failure))
            throw failure
        }
        let port = server.channel.localAddress?.port ?? configuration.port
        bound(.success(port))
        logger.info("health server listening", metadata: ["host": "\(configuration.host)", "port": "\(port)"])
        let responder = self.responder, logger = self.logger
        try await AcceptLoop.run(server, maxConnections: configuration.maxConnections, what: "health", logger: logger) { connection in
            await HealthConnection.serve(connection, responder: responder, maxBodyBytes: configuration.maxRequestHeadBytes, logger: logger)
        }
    }

    /// The handlers of one accepted connection: the idle timeout, the request-head limit, NIO's HTTP/1
    /// server pipeline (whose error handler answers malformed requests with `400` and closes), and the
    /// request deadline between its decoder and its pipelining handler (so that its `408` goes straight to
    /// the encoder, and it sees pipelined requests as they arrive).
    private static func configure(_ channel: any Channel, configuration: Configuration)
        throws -> ChannelClaim<HTTPServerRequestPart, HTTPServerResponsePart>
    {
        let sync = channel.pipeline.syncOperations
        let limit = RequestHeadLimit(maxBytes: configuration.maxRequestHeadBytes)
        try sync.addHandler(IdleStateHandler(readTimeout: configuration.idleTimeout.timeAmount))
        try sync.addHandler(IdleCloser())
        try sync.addHandler(limit)
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        let deadline = RequestDeadline(timeout: configuration.requestTimeout.timeAmount)
        try sync.addHandler(deadline, position: .before(try sync.handler(type: HTTPServerPipelineHandler.self)))
        try sync.addHandler(RequestHeadLimit.Reset(limit: limit))
        return ChannelClaim(
            try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel))
    }
}
