import CoreMetrics
import NIOCore

/// Run-time settings of a ``Mesh``: timeouts, limits, liveness and reconnection. Every field has a
/// default; <doc:SessionsAndLimits> lists them and says how they work together.
public struct MeshConfiguration: Sendable {
    /// How messages from one peer reach the handlers.
    #if hasAttribute(nonexhaustive)
    @nonexhaustive
    #endif
    public enum Delivery: Sendable, Equatable {
        /// One at a time, in the order the peer sent them (the default).
        case ordered
        /// Up to `maxPerPeer` at once per peer; order is not kept.
        case concurrent(maxPerPeer: Int)
    }

    /// The limit for each step of a connection: TCP connect, the HTTP upgrade, and each handshake frame.
    public var handshakeTimeout: Duration
    /// Inbound connections still in the upgrade or handshake at once; more are closed on accept.
    public var maxPendingHandshakes: Int
    /// Inbound connections from one IP address at once (in handshake or established).
    public var maxConnectionsPerAddress: Int
    /// The largest WebSocket message accepted or sent, in bytes. A payload of `j` JSON bytes makes a
    /// frame of `4·j + 372` bytes.
    public var maxFrameSize: Int
    /// Bytes of frames a link accepts before they are written; beyond it ``Mesh/send(_:to:zone:)``
    /// waits. One frame is always accepted when nothing is in flight.
    public var outboundBufferSize: Int
    /// A link on which nothing has been received for this long is closed.
    public var idleTimeout: Duration
    /// When nothing has been sent for this long, a `KEEPALIVE` payload (and a WebSocket ping) goes out.
    /// This answers a Rust peer's `KEEPALIVE` and keeps its 300 s watchdog fed.
    public var keepaliveInterval: Duration
    /// Backoff for re-dialling servers and re-binding the listener.
    public var reconnect: ReconnectPolicy
    /// Handler invocations running at once, over all peers.
    public var maxConcurrentHandlers: Int
    /// Ordering of delivery per peer.
    public var delivery: Delivery
    /// Messages received from one peer and waiting for its handlers. When the queue is full the link
    /// stops reading (the peer's sends then wait): backpressure, not memory.
    public var inboundQueueDepth: Int
    /// Bytes of payload received from one peer and waiting for its handlers (one message is always let
    /// in when the queue is empty).
    public var inboundBufferSize: Int
    /// Connections per `name@zone` allowed to wait as standby while another holds the link.
    public var maxStandbyConnections: Int
    /// How long graceful shutdown waits for links to close and handlers to finish.
    public var shutdownTimeout: Duration
    /// After this side sent its WebSocket Close, how long the peer may stay silent before the socket is
    /// shut without its Close. While the peer's frames keep arriving (it is still sending what it had
    /// accepted before it saw our Close) the wait goes on; frames it accepted and could not send in time
    /// are lost when the socket is shut.
    public var closeTimeout: Duration
    /// Events buffered for ``Mesh/events`` before the oldest are dropped.
    public var eventBufferSize: Int
    /// The engine and version sent in the handshake.
    public var identity: EngineIdentity
    /// The local address outgoing connections are bound to (nil lets the system choose).
    public var sourceAddress: String?
    /// When this side of a protocol 2 link changes its sending key (Noise `Rekey()`, announced in the
    /// frame). The peer follows whatever this side decides.
    public var rekey: RekeyThresholds
    /// Requests this service may have in flight to one peer; one more fails at once with
    /// `PaddingtonError.Code.tooManyRequests` (nothing is queued).
    public var maxRequestsInFlightPerPeer: Int
    /// Request handlers that may run at once for one peer; a request beyond that is answered with
    /// `PaddingtonError.Code.overloaded` at once.
    public var maxRequestHandlersPerPeer: Int
    /// Called when the mesh changes its own configuration: an invitation was used (it no longer
    /// expires), a client's previous keys were retired after a rotation, or a single-use invitation's
    /// keys were replaced over its first link. Apply the change to the file on disk to keep it across
    /// restarts (``ConfigurationChange/apply(to:)``); `paddington run` does. Called off the event
    /// loops, one change at a time; a change it throws for is logged (for new keys sent by a server, the
    /// server is told they were not stored). nil (the default) keeps such changes in memory only, and a
    /// mesh without it neither replaces its clients' single-use keys nor takes new keys from a server.
    public var configurationChanged: (@Sendable (ConfigurationChange) async throws -> Void)?
    /// Where the mesh's metrics go (`docs/operations.md` lists them): nil, the default, uses the
    /// backend bootstrapped in swift-metrics' `MetricsSystem` (a no-op until one is). Give each mesh its
    /// own factory (a Prometheus registry per mesh, say) to keep meshes in one process apart without
    /// bootstrapping the process-wide system.
    public var metricsFactory: (any MetricsFactory)?
    /// Called for every new connection, in either role, before the HTTP handlers are added and after
    /// the TLS handler of a `wss://` connection (which goes first): handlers added here see the plain
    /// HTTP and WebSocket bytes. Runs on the channel's event loop.
    package var channelInitializer: (@Sendable (any Channel, ConnectionRole) throws -> Void)?

    /// Settings with the given values; every parameter has the default listed in <doc:SessionsAndLimits>.
    public init(
        handshakeTimeout: Duration = .seconds(10),
        maxPendingHandshakes: Int = 128,
        maxConnectionsPerAddress: Int = 64,
        maxFrameSize: Int = 16 << 20,
        outboundBufferSize: Int = 4 << 20,
        idleTimeout: Duration = .seconds(300),
        keepaliveInterval: Duration = .seconds(23),
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        maxConcurrentHandlers: Int = 256,
        delivery: Delivery = .ordered,
        inboundQueueDepth: Int = 256,
        inboundBufferSize: Int = 4 << 20,
        maxStandbyConnections: Int = 16,
        shutdownTimeout: Duration = .seconds(5),
        closeTimeout: Duration = .seconds(10),
        eventBufferSize: Int = 4096,
        identity: EngineIdentity = EngineIdentity(),
        sourceAddress: String? = nil,
        rekey: RekeyThresholds = RekeyThresholds(),
        maxRequestsInFlightPerPeer: Int = 256,
        maxRequestHandlersPerPeer: Int = 256,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.metricsFactory = metricsFactory
        self.rekey = rekey
        self.maxRequestsInFlightPerPeer = maxRequestsInFlightPerPeer
        self.maxRequestHandlersPerPeer = maxRequestHandlersPerPeer
        self.sourceAddress = sourceAddress
        self.handshakeTimeout = handshakeTimeout
        self.maxPendingHandshakes = maxPendingHandshakes
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.maxFrameSize = maxFrameSize
        self.outboundBufferSize = outboundBufferSize
        self.idleTimeout = idleTimeout
        self.keepaliveInterval = keepaliveInterval
        self.reconnect = reconnect
        self.maxConcurrentHandlers = maxConcurrentHandlers
        self.delivery = delivery
        self.inboundQueueDepth = inboundQueueDepth
        self.inboundBufferSize = inboundBufferSize
        self.maxStandbyConnections = maxStandbyConnections
        self.shutdownTimeout = shutdownTimeout
        self.closeTimeout = closeTimeout
        self.eventBufferSize = eventBufferSize
        self.identity = identity
    }
}

/// When a protocol 2 sender changes its sending key: after whichever comes first.
public struct RekeyThresholds: Sendable, Equatable {
    /// Frames sent under one key.
    public var frames: UInt64
    /// Bytes sent under one key.
    public var bytes: UInt64
    /// Time since the key came into use.
    public var interval: Duration

    /// Thresholds with the protocol's suggested defaults: 2^20 frames, 1 GiB or 120 seconds.
    public init(frames: UInt64 = 1 << 20, bytes: UInt64 = 1 << 30, interval: Duration = .seconds(120)) {
        self.frames = frames
        self.bytes = bytes
        self.interval = interval
    }
}
