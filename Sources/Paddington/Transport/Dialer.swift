import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// What the dialler's pipeline produces.
enum OutboundUpgrade: Sendable {
    case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
    case refused
}

/// Keeps a link to one server up: dials, runs the client side of the handshake, hands the established
/// link to a ``LinkSession``, and when it ends (or any step fails) dials again after a jittered
/// exponential backoff, until shutdown.
struct Dialer {
    let core: MeshCore
    let session: LinkSession

    private var logger: Logger { core.logger }

    /// Keeps a link to `server` up until shutdown: dial, handshake, session, then backoff and again.
    func run(_ server: ServerEntry) async {
        let peer = PeerID(name: server.name, zone: server.zone)
        var attempt = 0
        while !core.isShuttingDown, !Task.isCancelled {
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
        var machine = ClientHandshake(localName: core.configuration.name, server: server, identity: options.identity)
        var controller: LinkController?
        var established = false
        do {
            guard !server.url.isSecure else {
                throw PaddingtonError(.invalidConfiguration,
                    "\(server.url) needs TLS, which swift-paddington does not speak yet; dial the server's plain ws:// port or a local TLS proxy")
            }
            let (upgrade, linkController) = try await connect(server, headers: machine.upgradeHeaders)
            controller = linkController
            let upgraded = try await upgrade.get()
            handOffFromEventLoop()
            guard case .websocket(let ws) = upgraded else {
                throw PaddingtonError(.ipNotAllowed, "\(address) refused the WebSocket upgrade (this address may not be allowed, or the headers were refused)")
            }
            var role = ClientRole(core: core, peer: peer)
            let driver = HandshakeDriver(controller: linkController, stepTimeout: options.handshakeTimeout)
            try await ws.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                let handshake = try await driver.run(&machine, start: machine.upgraded(), role: &role, frames: &frames, outbound: outbound)
                let link = Link(session: handshake, controller: linkController, maxFrameSize: options.maxFrameSize)
                try await self.session.run(link, claim: nil, frames: &frames) {
                    established = true
                    // The Rust client sends one KEEPALIVE right after the handshake; so do we.
                    try? link.sendKeepalive(ping: false)
                }
            }
        } catch {
            if established { return true }
            if core.isShuttingDown { return false }
            let failure = core.classify(error, controller: controller, during: "connecting to \(address)")
            logger.notice("handshake failed", metadata: [
                "peer": "\(peer)", "peer.address": "\(address)", "reason": "\(failure.code)", "error": "\(failure.message)",
            ])
            core.emit(.handshakeFailed(address: address, peer: peer, error: failure))
        }
        return established
    }

    private func connect(_ server: ServerEntry, headers extra: [(String, String)]) async throws
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
            let result = try await bootstrap
                .connectTimeout(.nanoseconds(options.handshakeTimeout.nanoseconds))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: url.host, port: url.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let controller = LinkController(channel: channel, configuration: configuration)
                        controller.armStep()
                        try options.channelInitializer?(channel, .client)
                        let upgrader = NIOTypedWebSocketClientUpgrader<OutboundUpgrade>(
                            maxFrameSize: options.maxFrameSize,
                            enableAutomaticErrorHandling: false,
                            upgradePipelineHandler: { channel, _ in
                                channel.eventLoop.makeCompletedFuture {
                                    .websocket(try WebSocketPipeline.configure(channel, isClient: true, maxFrameSize: options.maxFrameSize))
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
                                return channel.eventLoop.makeSucceededFuture(.refused)
                            })
                        let upgrade = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                            configuration: .init(upgradeConfiguration: upgradeConfiguration))
                        return (upgrade, controller)
                    }
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
