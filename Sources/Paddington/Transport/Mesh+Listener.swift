import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// What the listener's pipeline produces for each accepted connection.
enum InboundUpgrade: Sendable {
    case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, InboundContext)
    case refused(address: String, error: PaddingtonError)
}

/// Before the upgrade: remembers the first pipeline error (malformed or oversized HTTP) and closes
/// the connection, which NIO's HTTP error handler leaves open after its 400.
final class UpgradeErrorObserver: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = Never
    private let recorded = NIOLockedValueBox<(any Error)?>(nil)

    var error: (any Error)? { recorded.withLockedValue { $0 } }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A refused upgrade (our own shouldUpgrade said no) is answered by the not-upgraded path.
        if error is NIOWebSocketUpgradeError { return }
        recorded.withLockedValue { if $0 == nil { $0 = error } }
        context.close(promise: nil)
    }
}

/// What the pre-upgrade checks learnt about an inbound connection.
struct InboundContext: Sendable {
    var address: String
    var ip: IPAddress
    var maskedSalts: ConnectionSalts
    var timer: StepTimer
    var admission: Admission
}

extension Mesh {
    /// Binds the listener and accepts connections until shutdown; re-binds with backoff on failure.
    nonisolated func runListener() async {
        var attempt = 0
        while !exchange.isShuttingDown, !Task.isCancelled {
            do {
                let server = try await bindListener()
                attempt = 0
                let port = server.channel.localAddress?.port ?? configuration.port
                listenBound(channel: server.channel, port: port)
                logger.info("listening", metadata: ["address": "\(configuration.ip):\(port)"])
                emit(.listening(host: configuration.ip.description, port: port))
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await upgrade in inbound {
                            handOffFromEventLoop()
                            group.addTask { await self.handleInbound(upgrade) }
                        }
                    }
                }
                listenUnbound()
            } catch {
                listenUnbound()
                if exchange.isShuttingDown || Task.isCancelled { return }
                logger.error("listener failed", metadata: ["address": "\(configuration.ip):\(configuration.port)", "error": "\(error)"])
            }
            let delay = options.reconnect.delay(attempt: attempt, random: Double.random(in: 0...1))
            attempt += 1
            guard await pause(delay) else { return }
        }
    }

    private nonisolated func bindListener() async throws -> NIOAsyncChannel<EventLoopFuture<InboundUpgrade>, Never> {
        let clients = configuration.clients
        let options = self.options
        let exchange = self.exchange
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.ip.description, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configureInbound(channel: channel, clients: clients, options: options, exchange: exchange)
                }
            }
    }

    /// Sets up one accepted connection: admission limits, the upgrade timeout, and an upgrader that
    /// refuses, before any 101, addresses no client may use and requests without valid salt headers.
    private static func configureInbound(
        channel: any Channel,
        clients: [ClientEntry],
        options: MeshConfiguration,
        exchange: Exchange
    ) throws -> EventLoopFuture<InboundUpgrade> {
        let addressText = channel.remoteAddress?.description ?? "unknown"
        guard let ipText = channel.remoteAddress?.ipAddress, let address = IPAddress(ipText) else {
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededFuture(
                .refused(address: addressText, error: PaddingtonError(.transport, "no peer address")))
        }
        if let refusal = exchange.admit(address, maxPending: options.maxPendingHandshakes, maxPerAddress: options.maxConnectionsPerAddress) {
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededFuture(.refused(address: ipText, error: refusal))
        }
        let admission = Admission(exchange: exchange, address: address)
        channel.closeFuture.whenComplete { _ in admission.closed() }
        let timer = StepTimer(channel: channel)
        timer.arm(options.handshakeTimeout)
        let allowed = clients.contains { $0.allowance.allows(address) }

        @Sendable func salts(_ head: HTTPRequestHead) -> ConnectionSalts? {
            let inner = head.headers.first(name: ConnectionSalts.innerHeaderName)
            let outer = head.headers.first(name: ConnectionSalts.outerHeaderName)
            guard let inner, let outer, inner.utf8.count == 64, outer.utf8.count == 64 else { return nil }
            return try? ConnectionSalts.parseHeaders(innerHeader: inner, outerHeader: outer)
        }

        let observer = UpgradeErrorObserver()
        let upgrader = NIOTypedWebSocketServerUpgrader<InboundUpgrade>(
            maxFrameSize: options.maxFrameSize,
            enableAutomaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                guard allowed, salts(head) != nil else { return channel.eventLoop.makeSucceededFuture(nil) }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    channel.pipeline.syncOperations.removeHandler(observer, promise: nil)
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOWebSocketFrameAggregator(
                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096, maxAccumulatedFrameSize: options.maxFrameSize),
                        WebSocketControlHandler(isClient: false),
                    ])
                    let ws = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)
                    let context = InboundContext(
                        address: ipText, ip: address, maskedSalts: salts(head) ?? ConnectionSalts(inner: [], outer: []),
                        timer: timer, admission: admission)
                    return .websocket(ws, context)
                }
            })

        let configuration = NIOTypedHTTPServerUpgradeConfiguration<InboundUpgrade>(
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                let error: PaddingtonError
                let status: HTTPResponseStatus
                if !allowed {
                    error = PaddingtonError(.ipNotAllowed, "no client is allowed to connect from \(ipText)")
                    status = .forbidden
                } else {
                    error = PaddingtonError(.protocolViolation,
                        "not a WebSocket upgrade with valid \(ConnectionSalts.innerHeaderName) and \(ConnectionSalts.outerHeaderName) headers")
                    status = .badRequest
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "0")
                headers.add(name: "Connection", value: "close")
                let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
                channel.write(HTTPServerResponsePart.head(head), promise: nil)
                channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
                return channel.eventLoop.makeSucceededFuture(.refused(address: ipText, error: error))
            })
        let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
            configuration: .init(upgradeConfiguration: configuration))
        try channel.pipeline.syncOperations.addHandler(observer)
        // A request that never completes (slowloris), oversized or malformed headers, or a reset before
        // the request: report it like any other refusal.
        return negotiated.flatMapError { error in
            channel.close(promise: nil)
            let failure: PaddingtonError
            if timer.fired {
                failure = PaddingtonError(.timeout, "no complete upgrade request within \(options.handshakeTimeout)")
            } else if let parseError = observer.error {
                failure = PaddingtonError(.protocolViolation, "the HTTP request is malformed or too large", cause: parseError)
            } else {
                failure = PaddingtonError(.connectionClosed, "the connection ended before the upgrade", cause: error)
            }
            return channel.eventLoop.makeSucceededFuture(.refused(address: ipText, error: failure))
        }
    }

    /// Runs one inbound connection to its end. Never throws: one connection's failure is its own.
    nonisolated func handleInbound(_ upgrade: EventLoopFuture<InboundUpgrade>) async {
        let result: InboundUpgrade
        do {
            result = try await upgrade.get()
            handOffFromEventLoop()
        } catch {
            // Malformed HTTP, oversized headers, an upgrade timeout or a reset before the request.
            logger.debug("inbound connection ended before the upgrade", metadata: ["error": "\(error)"])
            return
        }
        switch result {
        case .refused(let address, let error):
            logger.warning("refused connection", metadata: ["peer.address": "\(address)", "reason": "\(error.code)", "error": "\(error.message)"])
            emit(.handshakeFailed(address: address, peer: nil, error: error))
        case .websocket(let ws, let context):
            await runServerConnection(ws, context: context)
        }
    }

    private nonisolated func runServerConnection(_ ws: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, context: InboundContext) async {
        let channel = ws.channel
        var peer: PeerID?
        do {
            try await ws.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                var machine = ServerHandshake(
                    localName: configuration.name, candidates: configuration.clients, address: context.ip,
                    preferred: exchange.lastClient(from: context.ip), maskedSalts: context.maskedSalts, identity: options.identity)
                var claim: UInt64?
                var inStandby = false
                defer {
                    if let claim, let peer { exchange.releaseClaim(peer, token: claim) }
                    if inStandby, let peer { exchange.leaveStandby(peer) }
                }
                context.timer.arm(options.handshakeTimeout)
                var actions = machine.receive(try await nextHandshakeFrame(&frames, timer: context.timer, channel: channel))
                while true {
                    var next: [HandshakeAction] = []
                    for action in actions {
                        switch action {
                        case .send(let frame):
                            try await outbound.write(textFrame(frame, channel: channel))
                        case .decideStandby(let name, let zone):
                            let id = PeerID(name: name, zone: zone)
                            peer = id
                            let decision = exchange.decideStandby(id, maxStandby: options.maxStandbyConnections, isRetry: inStandby)
                            if decision.refused {
                                throw PaddingtonError(.tooManyConnections, "\(id) already has \(options.maxStandbyConnections) standby connections waiting")
                            }
                            claim = decision.claim
                            inStandby = decision.status.clientIsSecondary
                            if inStandby {
                                logger.info("peer waits as standby", metadata: ["peer": "\(id)", "peer.address": "\(context.address)"])
                            }
                            next += machine.standbyDecided(decision.status)
                        case .waitThenPoll:
                            break
                        case .established(let session):
                            context.timer.disarm()
                            context.admission.handshakeDone()
                            exchange.authenticated(PeerID(name: session.peerName, zone: session.zone), from: context.ip)
                            let connection = PeerConnection(
                                session: session, channel: channel, maxFrameSize: options.maxFrameSize, outboundBudget: options.outboundBufferSize)
                            try exchange.register(connection, claim: claim)
                            claim = nil
                            await runSession(connection, frames: &frames)
                            return
                        case .fail(let error):
                            throw error
                        }
                    }
                    if next.isEmpty {
                        if peer == nil, let client = machine.authenticatedClient { peer = PeerID(name: client.name, zone: client.zone) }
                        context.timer.arm(options.handshakeTimeout)
                        next = machine.receive(try await nextHandshakeFrame(&frames, timer: context.timer, channel: channel))
                    }
                    actions = next
                }
            }
        } catch {
            context.admission.handshakeDone()
            let failure = classify(error, timer: context.timer, during: "the handshake")
            logger.warning("handshake failed", metadata: [
                "peer.address": "\(context.address)", "peer": "\(peer?.description ?? "unknown")",
                "reason": "\(failure.code)", "error": "\(failure.message)",
            ])
            emit(.handshakeFailed(address: context.address, peer: peer, error: failure))
        }
    }
}
