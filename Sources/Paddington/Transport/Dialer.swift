import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import PaddingtonCrypto

/// What the dialler's pipeline produces.
enum OutboundUpgrade: Sendable {
    /// Upgraded; the values of the `openportal-protocol` header of the `101`.
    case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, selection: [String])
    /// The server answered without upgrading, with this status.
    case refused(HTTPResponseStatus)
}

/// Keeps a link to one server up: dials, runs the client side of the handshake, hands the established
/// link to a ``LinkSession``, and when it ends (or any step fails) dials again after a jittered
/// exponential backoff, until shutdown.
struct Dialer {
    let core: MeshCore
    let session: LinkSession

    private var logger: Logger { core.logger }

    /// Keeps a link to the server `peer` up until shutdown, or until a reload removes it: dial,
    /// handshake, session, then backoff and again. Each dial uses the server entry in force then.
    func run(_ peer: PeerID) async {
        var attempt = 0
        while !core.isShuttingDown, !Task.isCancelled {
            guard let server = core.server(peer) else {
                if core.dialerShouldEnd(peer) {
                    logger.info("no longer dialling: the server was removed by a reload", metadata: ["peer": "\(peer)"])
                    return
                }
                continue  // added again in the meantime
            }
            let established = await dialOnce(server, peer: peer)
            if core.isShuttingDown || Task.isCancelled { return }
            if established { attempt = 0 }
            let delay = core.options.reconnect.delay(attempt: attempt, random: Double.random(in: 0...1))
            attempt += 1
            logger.debug("will dial again", metadata: ["peer": "\(peer)", "delay": "\(delay)"])
            guard await core.pause(delay) else { return }
        }
    }

    /// One connection attempt. Returns true when the handshake completed (the link may have ended since).
    private func dialOnce(_ server: ServerEntry, peer: PeerID) async -> Bool {
        let address = "\(server.url)"
        let options = core.options
        let policy = server.protocolPolicy ?? core.configuration.protocolPolicy
        let offer = NegotiatedProtocol.clientOffer(policy: policy)
        let salts = ConnectionSalts.generate()
        var controller: LinkController?
        var established = false
        var tls: TLSSetup.ClientSide?
        do {
            if server.url.isSecure { tls = try TLSSetup.ClientSide(server: server, configuration: core.configuration) }
            var headers = ClientHandshake.upgradeHeaders(salts: salts, keys: server.keys)
            if let offer { headers.append((ProtocolOffer.headerName, offer)) }
            let (upgrade, linkController) = try await connect(server, headers: headers, tls: tls)
            controller = linkController
            let upgraded = try await upgrade.get()
            handOffFromEventLoop()
            let ws: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>
            let selection: [String]
            switch upgraded {
            case .websocket(let channel, let values):
                ws = channel
                selection = values
            case .refused(let status) where status == .upgradeRequired:
                throw PaddingtonError(.protocolVersionMismatch,
                    "\(address) requires protocol 2 (HTTP 426), and protocol 2 is off for this server here")
            case .refused(let status):
                throw PaddingtonError(.ipNotAllowed,
                    "\(address) refused the WebSocket upgrade with HTTP \(status.code) (this address may not be allowed, or the headers were refused)")
            }
            let negotiation: NegotiatedProtocol
            do {
                negotiation = try NegotiatedProtocol.client(offered: offer, selectionValues: selection, policy: policy, server: "\(peer)")
            } catch {
                try? await ws.executeThenClose { _, _ in }
                throw error
            }
            if negotiation.version == 2 {
                try await run(ws, peer: peer, controller: linkController, established: &established) {
                    try ProtocolTwoClientHandshake(
                        localName: core.name, server: server, identity: options.identity,
                        prologue: negotiation.prologue, rekey: core.rekeyPolicy)
                }
            } else {
                try await run(ws, peer: peer, controller: linkController, established: &established) {
                    ClientHandshake(
                        localName: core.name, server: server, identity: options.identity, negotiation: negotiation, salts: salts)
                }
            }
        } catch {
            if established { return true }
            if core.isShuttingDown { return false }
            let failure = tls?.failure(address: address) ?? core.classify(error, controller: controller, during: "connecting to \(address)")
            logger.notice("handshake failed", metadata: [
                "peer": "\(peer)", "peer.address": "\(address)", "reason": "\(failure.code)", "error": "\(failure.message)",
            ])
            core.metrics.handshakeFailed(direction: "out", error: failure)
            core.emit(.handshakeFailed(address: address, peer: peer, error: failure))
        }
        return established
    }

    /// Runs the client side of the handshake on an upgraded connection, then the session.
    private func run<Machine: DialledHandshake & ~Copyable>(
        _ ws: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, peer: PeerID, controller: LinkController, established: inout Bool,
        makeMachine: () throws -> Machine
    ) async throws {
        let options = core.options
        var role = ClientRole(core: core, peer: peer)
        let driver = HandshakeDriver(controller: controller, stepTimeout: options.handshakeTimeout)
        var registered = false
        defer { if registered { established = true } }
        try await ws.executeThenClose { inbound, _ in
            var frames = inbound.makeAsyncIterator()
            // The machine lives for the handshake only, in establish's frame.
            var identified: PeerID?
            let handshake = try await driver.establish(
                makeMachine, start: { $0.upgraded() }, role: &role, frames: &frames, identified: &identified)
            let link = Link(session: handshake, controller: controller, maxFrameSize: options.maxFrameSize, metrics: core.metrics)
            try await session.run(link, claim: nil, frames: &frames) {
                registered = true
                // A reload during the handshake may have removed the server; one after this check closes the link itself.
                if !core.stillConfigured(peer, clientKeys: nil) {
                    link.close(reason: PaddingtonError(.connectionClosed, "removed from the configuration by a reload during the handshake"))
                }
                // The Rust client sends one KEEPALIVE right after the handshake; so do we (protocol 2
                // allows the same).
                try? link.sendKeepalive(ping: false)
            }
        }
    }

    private func connect(_ server: ServerEntry, headers extra: [(String, String)], tls: TLSSetup.ClientSide?) async throws
        -> (EventLoopFuture<OutboundUpgrade>, LinkController)
    {
        let options = core.options
        let configuration = core.linkConfiguration
        let url = server.url
        do {
            var bootstrap = ClientBootstrap(group: core.eventLoopGroup)
            if let source = options.sourceAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
            }
            bootstrap = bootstrap
                .connectTimeout(.nanoseconds(options.handshakeTimeout.nanoseconds))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            let initialize: @Sendable (any Channel) -> EventLoopFuture<(EventLoopFuture<OutboundUpgrade>, LinkController)> = { channel in
                channel.eventLoop.makeCompletedFuture {
                    let controller = LinkController(channel: channel, configuration: configuration)
                    controller.armStep()
                    try tls?.addHandler(to: channel)
                    try options.channelInitializer?(channel, .client)
                    let statusRecorder = NIOLockedValueBox<ResponseStatusRecorder?>(nil)
                    let upgrader = NIOTypedWebSocketClientUpgrader<OutboundUpgrade>(
                        maxFrameSize: options.maxFrameSize,
                        enableAutomaticErrorHandling: false,
                        upgradePipelineHandler: { channel, response in
                            channel.eventLoop.makeCompletedFuture {
                                if let recorder = statusRecorder.withLockedValue({ $0 }) {
                                    channel.pipeline.syncOperations.removeHandler(recorder, promise: nil)
                                }
                                return .websocket(
                                    try WebSocketPipeline.configure(channel, isClient: true, maxFrameSize: options.maxFrameSize, controller: controller),
                                    selection: response.headers[ProtocolOffer.headerName].map(ProtocolOffer.fieldValue))
                            }
                        })
                    var headers = HTTPHeaders()
                    let host = url.host.contains(":") ? "[\(url.host)]" : url.host
                    headers.add(name: "Host", value: "\(host):\(url.port)")
                    for (name, value) in extra { headers.add(name: name, value: value) }
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.requestURI, headers: headers)
                    let upgradeConfiguration = NIOTypedHTTPClientUpgradeConfiguration<OutboundUpgrade>(
                        upgradeRequestHead: head,
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.close(promise: nil)
                            let status = statusRecorder.withLockedValue { $0 }?.status ?? .forbidden
                            return channel.eventLoop.makeSucceededFuture(.refused(status))
                        })
                    let upgrade = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: upgradeConfiguration))
                    statusRecorder.withLockedValue { $0 = try? ResponseStatusRecorder.install(in: channel) }
                    return (upgrade, controller)
                }
            }
            let result: (EventLoopFuture<OutboundUpgrade>, LinkController)
            // An address literal is connected to directly: the resolver (getaddrinfo, then Happy Eyeballs)
            // has nothing to do for it and cost about 80 µs of a loopback dial's 350 µs here.
            if let address = try? SocketAddress(ipAddress: url.host, port: url.port) {
                result = try await bootstrap.connect(to: address, channelInitializer: initialize)
            } else {
                result = try await bootstrap.connect(host: url.host, port: url.port, channelInitializer: initialize)
            }
            handOffFromEventLoop()
            return result
        } catch let error as PaddingtonError {
            throw error
        } catch {
            throw PaddingtonError(.transport, "cannot connect to \(url.host):\(url.port)", cause: error)
        }
    }
}

/// The client's side of standby during a handshake: it waits (shutdown-aware) between polls.
struct ClientRole: HandshakeRole {
    let core: MeshCore
    let peer: PeerID

    func decideStandby(_ peer: PeerID) throws -> WireMessage.Standby {
        throw PaddingtonError(.protocolViolation, "a client never decides standby")
    }

    func waitAsStandby(_ delay: Duration) async throws {
        core.logger.info("waiting as standby", metadata: ["peer": "\(peer)"])
        guard await core.pause(delay) else { throw PaddingtonError(.shutdown, "shutting down while in standby") }
    }
}
