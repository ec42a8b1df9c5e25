import Foundation
import PaddingtonCrypto
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Accepts the connections of a service's clients: binds (and re-binds with backoff after a failure),
/// refuses before the WebSocket upgrade what no client could be (an address no client is allowed from,
/// missing salt headers, over the admission limits), runs the server side of the handshake on each
/// upgraded connection, and hands established links to a ``LinkSession``.
final class Listener: Sendable {
    private struct State {
        var channel: (any Channel)?
        var port: Int?
        var failure: PaddingtonError?
        var waiters: [CheckedContinuation<Int, any Error>] = []
    }

    private let core: MeshCore
    private let state = NIOLockedValueBox(State())

    init(core: MeshCore) {
        self.core = core
    }

    private var logger: Logger { core.logger }

    // MARK: The bound port

    /// Waits until the listener is bound and returns its port.
    func port() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<Int, any Error>? = state.withLockedValue { state in
                if let port = state.port { return .success(port) }
                if let failure = state.failure { return .failure(failure) }
                state.waiters.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    private func bound(channel: any Channel, port: Int) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Int, any Error>] in
            state.channel = channel
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    private func unbound() {
        state.withLockedValue { state in
            state.channel = nil
            state.port = nil
        }
    }

    /// Fails the waits for the port (the mesh stopped, or never listens).
    func finish(_ error: PaddingtonError) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Int, any Error>] in
            state.failure = error
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Stops accepting: closes the listening socket. Connections already accepted go on.
    func close() async {
        let channel = state.withLockedValue { $0.channel }
        try? await channel?.close()
    }

    // MARK: Accepting

    /// Binds the listener and accepts connections until shutdown; re-binds with backoff on failure.
    func run(session: LinkSession) async {
        let configuration = core.configuration
        var attempt = 0
        while !core.isShuttingDown, !Task.isCancelled {
            do {
                let server = try await bind()
                attempt = 0
                let port = server.channel.localAddress?.port ?? configuration.port
                bound(channel: server.channel, port: port)
                logger.info("listening", metadata: ["address": "\(configuration.ip):\(port)"])
                core.emit(.listening(host: configuration.ip.description, port: port))
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { inbound in
                        for try await upgrade in inbound {
                            handOffFromEventLoop()
                            group.addTask { await self.handle(upgrade, session: session) }
                        }
                    }
                }
                unbound()
            } catch {
                unbound()
                if core.isShuttingDown || Task.isCancelled { return }
                // Unusable TLS files: whoever waits for the port learns why (a re-bind may still succeed).
                if let error = error as? PaddingtonError, error.code == .invalidConfiguration { finish(error) }
                logger.error("listener failed", metadata: ["address": "\(configuration.ip):\(configuration.port)", "error": "\(error)"])
            }
            let delay = core.options.reconnect.delay(attempt: attempt, random: Double.random(in: 0...1))
            attempt += 1
            guard await core.pause(delay) else { return }
        }
    }

    private func bind() async throws -> NIOAsyncChannel<EventLoopFuture<InboundUpgrade>, Never> {
        let core = self.core
        // Read at each bind (and at each reload), so renewed certificate files are picked up.
        core.serverTLS = try TLSSetup.serverContext(for: core.configuration)
        return try await ServerBootstrap(group: core.eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: core.configuration.ip.description, port: core.configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try Self.configure(channel, core: core)
                }
            }
    }

    /// Sets up one accepted connection: admission limits, the upgrade's time limit, and an upgrader
    /// that refuses, before any 101, addresses no client may use and requests without valid salt headers.
    private static func configure(_ channel: any Channel, core: MeshCore) throws -> EventLoopFuture<InboundUpgrade> {
        let options = core.options
        let tls = core.serverTLS
        let service = core.configuration
        let addressText = channel.remoteAddress?.description ?? "unknown"
        guard let ipText = channel.remoteAddress?.ipAddress, let address = IPAddress(ipText) else {
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededFuture(
                .refused(address: addressText, error: PaddingtonError(.transport, "no peer address")))
        }
        let proxies = ProxyHeaderRule(header: service.proxyHeader, trustedProxies: service.trustedProxies)
        let admission: Admission
        switch core.admission.admit(address, perAddressLimit: !proxies.trusts(address)) {
        case .failure(let refusal):
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededFuture(.refused(address: ipText, error: refusal))
        case .success(let admitted):
            admission = admitted
        }
        channel.closeFuture.whenComplete { _ in admission.closed() }
        let controller = LinkController(channel: channel, configuration: core.linkConfiguration)
        controller.armStep()
        if let tls { try TLSSetup.addServerHandler(to: channel, context: tls) }
        try options.channelInitializer?(channel, .server)
        let clients = service.clients
        // Why the upgrade was refused before the protocol decision: an address no client may use, or a
        // proxy header that is not an address.
        let refusal = NIOLockedValueBox<PaddingtonError?>(nil)
        // Where the connection comes from (a trusted proxy's header may say), once the request arrived.
        let source = NIOLockedValueBox(ProxyHeaderRule.Source(ip: address, proxy: nil, ignoredHeader: false))
        if !proxies.trusts(address), !clients.contains(where: { $0.allowance.allows(address) }) {
            refusal.withLockedValue { $0 = PaddingtonError(.ipNotAllowed, "no client is allowed to connect from \(ipText)") }
        }
        let statistics = core.statistics

        @Sendable func salts(_ head: HTTPRequestHead) -> ConnectionSalts? {
            let inner = head.headers.first(name: ConnectionSalts.innerHeaderName)
            let outer = head.headers.first(name: ConnectionSalts.outerHeaderName)
            guard let inner, let outer, inner.utf8.count == 64, outer.utf8.count == 64 else { return nil }
            return try? ConnectionSalts.parseHeaders(innerHeader: inner, outerHeader: outer)
        }

        let observer = UpgradeErrorObserver()
        let policy = service.protocolPolicy
        // What the protocol header decided, from shouldUpgrade to the pipeline or the refusal.
        let negotiation = NIOLockedValueBox<Result<NegotiatedProtocol, NegotiationRefusal>?>(nil)
        let upgrader = NIOTypedWebSocketServerUpgrader<InboundUpgrade>(
            maxFrameSize: options.maxFrameSize,
            enableAutomaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                let from: ProxyHeaderRule.Source
                do {
                    from = try proxies.source(of: head.headers, connectedFrom: address)
                } catch {
                    refusal.withLockedValue { $0 = error as? PaddingtonError }
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                if from.ignoredHeader { statistics.proxyHeaderIgnored() }
                guard refusal.withLockedValue({ $0 }) == nil else { return channel.eventLoop.makeSucceededFuture(nil) }
                guard clients.contains(where: { $0.allowance.allows(from.ip) }) else {
                    refusal.withLockedValue { $0 = PaddingtonError(.ipNotAllowed, "no client is allowed to connect from \(from.description)") }
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                source.withLockedValue { $0 = from }
                guard salts(head) != nil else { return channel.eventLoop.makeSucceededFuture(nil) }
                let decision = NegotiatedProtocol.server(
                    headerValues: head.headers[ProtocolOffer.headerName].map(ProtocolOffer.fieldValue), policy: policy)
                negotiation.withLockedValue { $0 = decision }
                guard case .success(let negotiated) = decision else { return channel.eventLoop.makeSucceededFuture(nil) }
                var headers = HTTPHeaders()
                if let selection = negotiated.selection { headers.add(name: ProtocolOffer.headerName, value: selection) }
                return channel.eventLoop.makeSucceededFuture(headers)
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    channel.pipeline.syncOperations.removeHandler(observer, promise: nil)
                    guard case .success(let negotiated)? = negotiation.withLockedValue({ $0 }) else {
                        throw PaddingtonError(.protocolViolation, "upgraded without a protocol decision")
                    }
                    let ws = ChannelClaim(
                        try WebSocketPipeline.configure(channel, isClient: false, maxFrameSize: options.maxFrameSize, controller: controller))
                    let from = source.withLockedValue { $0 }
                    let connection = InboundConnection(
                        address: from.description, ip: from.ip, maskedSalts: salts(head) ?? ConnectionSalts(inner: [], outer: []),
                        negotiation: negotiated, controller: controller, admission: admission)
                    return .websocket(ws, connection)
                }
            })

        let configuration = NIOTypedHTTPServerUpgradeConfiguration<InboundUpgrade>(
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                let error: PaddingtonError
                let status: HTTPResponseStatus
                var headers = HTTPHeaders()
                if let refused = refusal.withLockedValue({ $0 }) {
                    error = refused
                    status = refused.code == .ipNotAllowed ? .forbidden : .badRequest
                } else if case .failure(let refusal)? = negotiation.withLockedValue({ $0 }) {
                    error = refusal.error
                    switch refusal {
                    case .badRequest:
                        status = .badRequest
                    case .upgradeRequired:
                        status = .upgradeRequired
                        headers.add(name: "Upgrade", value: "websocket")
                        headers.add(name: ProtocolOffer.headerName, value: ProtocolOffer.protocolTwo)
                    }
                } else {
                    error = PaddingtonError(.protocolViolation,
                        "not a WebSocket upgrade with valid \(ConnectionSalts.innerHeaderName) and \(ConnectionSalts.outerHeaderName) headers")
                    status = .badRequest
                }
                headers.add(name: "Content-Length", value: "0")
                headers.add(name: "Connection", value: "close")
                let head = HTTPResponseHead(version: .http1_1, status: status, headers: headers)
                channel.write(HTTPServerResponsePart.head(head), promise: nil)
                channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
                return channel.eventLoop.makeSucceededFuture(.refused(address: source.withLockedValue { $0.description }, error: error))
            })
        let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
            configuration: .init(upgradeConfiguration: configuration))
        try channel.pipeline.syncOperations.addHandler(observer)
        // A request that never completes (slowloris), oversized or malformed headers, or a reset before
        // the request: report it like any other refusal.
        return negotiated.flatMapError { error in
            channel.close(promise: nil)
            let failure: PaddingtonError
            if controller.stepTimedOut {
                failure = PaddingtonError(.timeout, "no complete upgrade request within \(options.handshakeTimeout)")
            } else if let tlsFailure = TLSSetup.serverFailure(observer.error) {
                failure = tlsFailure
            } else if let parseError = observer.error {
                failure = TLSSetup.plainPortFailure(parseError, isTLSPort: tls != nil)
                    ?? PaddingtonError(.protocolViolation, "the HTTP request is malformed or too large", cause: parseError)
            } else {
                failure = PaddingtonError(.connectionClosed, "the connection ended before the upgrade", cause: error)
            }
            return channel.eventLoop.makeSucceededFuture(.refused(address: ipText, error: failure))
        }
    }

    /// Runs one inbound connection to its end. Never throws: one connection's failure is its own.
    private func handle(_ upgrade: EventLoopFuture<InboundUpgrade>, session: LinkSession) async {
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
            // A stranger's failure: debug, not a warning (it is counted in the statistics and reported as an event).
            logger.debug("refused connection", metadata: ["peer.address": "\(address)", "reason": "\(error.code)", "error": "\(error.message)"])
            core.metrics.handshakeFailed(direction: "in", error: error)
            core.emit(.handshakeFailed(address: address, peer: nil, error: error))
        case .websocket(let claim, let connection):
            guard let ws = claim.take() else { return }
            await serve(ws, connection: connection, session: session)
        }
    }

    /// The server side of the handshake (protocol 1 or 2, as negotiated), then the session.
    private func serve(_ ws: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, connection: InboundConnection, session: LinkSession) async {
        let configuration = core.configuration
        let options = core.options
        // The keys in force now: a reload or a rotation's end applies from the next connection on.
        let accepted = core.clientKeys
        let (clients, keys) = accepted.accepted(at: Date())
        let preferred = core.preferredClient(from: connection.ip, keys: accepted)
        if connection.negotiation.version == 2 {
            // The configuration's own arrays, shared, not copied: a connection costs no copy of the
            // client list (the candidates are picked when message 1 arrives, and dropped after).
            await serve(ws, connection: connection, session: session) {
                ProtocolTwoServerHandshake(
                    localName: configuration.name, clients: clients, keys: keys, address: connection.ip,
                    preferred: preferred, prologue: connection.negotiation.prologue,
                    identity: options.identity, servicePolicy: configuration.protocolPolicy, rekey: core.rekeyPolicy)
            }
        } else {
            await serve(ws, connection: connection, session: session) {
                ServerHandshake(
                    localName: configuration.name, candidates: clients, address: connection.ip,
                    preferred: preferred, maskedSalts: connection.maskedSalts, identity: options.identity,
                    negotiation: connection.negotiation, servicePolicy: configuration.protocolPolicy)
            }
        }
    }

    private func serve<Machine: HandshakeMachine & ~Copyable>(
        _ ws: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, connection: InboundConnection, session: LinkSession,
        makeMachine: () -> Machine
    ) async {
        let options = core.options
        var role = ServerRole(registry: core.registry, maxStandby: options.maxStandbyConnections, address: connection.address, logger: logger)
        let driver = HandshakeDriver(controller: connection.controller, stepTimeout: options.handshakeTimeout)
        var identified: PeerID?
        do {
            try await ws.executeThenClose { inbound, _ in
                var frames = inbound.makeAsyncIterator()
                defer { role.release() }
                // The machine lives for the handshake only, in establish's frame.
                let established = try await driver.establish(makeMachine, role: &role, frames: &frames, identified: &identified)
                connection.admission.handshakeDone()
                let link = Link(session: established, controller: connection.controller, maxFrameSize: options.maxFrameSize, metrics: core.metrics)
                core.registry.authenticated(link.id, from: connection.ip)
                let keys = established.clientKeys
                let replacement = keys.flatMap { core.keysUsed(by: link.id, keys: $0) }
                try await session.run(link, claim: role.claim, frames: &frames) {
                    role.registered()
                    // A reload during the handshake (or a standby wait) may have removed the client or
                    // its keys; one after this check closes the link itself.
                    guard core.stillConfigured(link.id, clientKeys: keys) else {
                        link.close(reason: PaddingtonError(.connectionClosed, "removed from the configuration by a reload during the handshake"))
                        return
                    }
                    // A single-use invitation: its client is sent new keys over this link.
                    if let replacement {
                        Task { [mesh = session.mesh] in await KeyReplacement.send(replacement.keys, once: replacement.saved, to: link.id, mesh: mesh) }
                    }
                }
            }
        } catch {
            connection.admission.handshakeDone()
            let failure = core.classify(error, controller: connection.controller, during: "the handshake")
            let peer = role.peer ?? identified
            // A client whose keys we recognised is worth a notice; a stranger's failure is debug.
            logger.log(level: peer == nil ? .debug : .notice, "handshake failed", metadata: [
                "peer.address": "\(connection.address)", "peer": "\(peer?.description ?? "unknown")",
                "reason": "\(failure.code)", "error": "\(failure.message)",
            ])
            core.metrics.handshakeFailed(direction: "in", error: failure)
            core.emit(.handshakeFailed(address: connection.address, peer: peer, error: failure))
        }
    }
}

/// The server's side of standby during a handshake: it claims `name@zone` for a primary connection,
/// counts standby connections, and gives both back when the handshake ends without using them.
struct ServerRole: HandshakeRole {
    let registry: LinkRegistry
    let maxStandby: Int
    let address: String
    let logger: Logger
    private(set) var peer: PeerID?
    /// The claim on `name@zone` of a connection told it is primary, until its link is registered.
    private(set) var claim: UInt64?
    private var inStandby = false

    init(registry: LinkRegistry, maxStandby: Int, address: String, logger: Logger) {
        self.registry = registry
        self.maxStandby = maxStandby
        self.address = address
        self.logger = logger
    }

    mutating func decideStandby(_ peer: PeerID) throws -> WireMessage.Standby {
        self.peer = peer
        let decision = registry.decideStandby(peer, maxStandby: maxStandby, isRetry: inStandby)
        if decision.refused {
            throw PaddingtonError(.tooManyConnections, "\(peer) already has \(maxStandby) standby connections waiting")
        }
        claim = decision.claim
        let wasInStandby = inStandby
        inStandby = decision.status.clientIsSecondary
        if inStandby, !wasInStandby {
            logger.info("peer waits as standby", metadata: ["peer": "\(peer)", "peer.address": "\(address)"])
        }
        return decision.status
    }

    func waitAsStandby(_ delay: Duration) async throws {
        throw PaddingtonError(.protocolViolation, "a server never waits as standby")
    }

    /// The link was registered with the claim: it is no longer ours to give back.
    mutating func registered() {
        claim = nil
    }

    /// Gives back a claim or a standby place the handshake did not use.
    mutating func release() {
        if let claim, let peer { registry.releaseClaim(peer, token: claim) }
        if inStandby, let peer { registry.leaveStandby(peer) }
        claim = nil
        inStandby = false
    }
}
