import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// What the dialler's pipeline produces.
enum OutboundUpgrade: Sendable {
    case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, StepTimer)
    case refused
}

extension Mesh {
    /// Keeps a link to `server` up until shutdown: dial, handshake, session, then backoff and again.
    nonisolated func runDialer(_ server: ServerEntry) async {
        let peer = PeerID(name: server.name, zone: server.zone)
        var attempt = 0
        while !exchange.isShuttingDown, !Task.isCancelled {
            let established = await dialOnce(server, peer: peer)
            if exchange.isShuttingDown || Task.isCancelled { return }
            if established { attempt = 0 }
            let delay = options.reconnect.delay(attempt: attempt, random: Double.random(in: 0...1))
            attempt += 1
            logger.debug("will dial again", metadata: ["peer": "\(peer)", "delay": "\(delay)"])
            guard await pause(delay) else { return }
        }
    }

    /// One connection attempt. Returns true when the handshake completed (the link may have ended since).
    private nonisolated func dialOnce(_ server: ServerEntry, peer: PeerID) async -> Bool {
        let address = "\(server.url)"
        var machine = ClientHandshake(localName: configuration.name, server: server, identity: options.identity)
        var timer: StepTimer?
        var established = false
        do {
            guard !server.url.isSecure else {
                throw PaddingtonError(.invalidConfiguration,
                    "\(server.url) needs TLS, which swift-paddington does not speak yet; dial the server's plain ws:// port or a local TLS proxy")
            }
            let upgrade = try await connect(server, headers: machine.upgradeHeaders)
            handOffFromEventLoop()
            let upgraded = try await upgrade.get()
            handOffFromEventLoop()
            guard case .websocket(let ws, let stepTimer) = upgraded else {
                throw PaddingtonError(.ipNotAllowed, "\(address) refused the WebSocket upgrade (this address may not be allowed, or the headers were refused)")
            }
            timer = stepTimer
            let channel = ws.channel
            try await ws.executeThenClose { inbound, outbound in
                var frames = inbound.makeAsyncIterator()
                var actions = machine.upgraded()
                while true {
                    var waitForFrame = true
                    for action in actions {
                        switch action {
                        case .send(let frame):
                            try await outbound.write(textFrame(frame, channel: channel))
                        case .waitThenPoll(let delay):
                            stepTimer.disarm()
                            logger.info("waiting as standby", metadata: ["peer": "\(peer)"])
                            guard await pause(delay) else { throw PaddingtonError(.shutdown, "shutting down while in standby") }
                            actions = machine.standbyTimerFired()
                            waitForFrame = false
                        case .established(let session):
                            stepTimer.disarm()
                            let connection = PeerConnection(
                                session: session, channel: channel, maxFrameSize: options.maxFrameSize, outboundBudget: options.outboundBufferSize)
                            try exchange.register(connection, claim: nil)
                            established = true
                            // The Rust client sends one KEEPALIVE right after the handshake; so do we.
                            try? await connection.sendKeepalive(ping: false)
                            await runSession(connection, frames: &frames)
                            return
                        case .fail(let error):
                            throw error
                        case .decideStandby:
                            break
                        }
                    }
                    if waitForFrame {
                        stepTimer.arm(options.handshakeTimeout)
                        actions = machine.receive(try await nextHandshakeFrame(&frames, timer: stepTimer, channel: channel))
                    }
                }
            }
        } catch {
            if established { return true }
            if exchange.isShuttingDown { return false }
            let failure = classify(error, timer: timer, during: "connecting to \(address)")
            logger.warning("handshake failed", metadata: [
                "peer": "\(peer)", "peer.address": "\(address)", "reason": "\(failure.code)", "error": "\(failure.message)",
            ])
            emit(.handshakeFailed(address: address, peer: peer, error: failure))
        }
        return established
    }

    private nonisolated func connect(_ server: ServerEntry, headers extra: [(String, String)]) async throws -> EventLoopFuture<OutboundUpgrade> {
        let options = self.options
        let url = server.url
        do {
            var bootstrap = ClientBootstrap(group: eventLoopGroup)
            if let source = options.sourceAddress {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
            }
            return try await bootstrap
                .connectTimeout(.nanoseconds(options.handshakeTimeout.nanoseconds))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connect(host: url.host, port: url.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let timer = StepTimer(channel: channel)
                        timer.arm(options.handshakeTimeout)
                        let upgrader = NIOTypedWebSocketClientUpgrader<OutboundUpgrade>(
                            maxFrameSize: options.maxFrameSize,
                            enableAutomaticErrorHandling: false,
                            upgradePipelineHandler: { channel, _ in
                                channel.eventLoop.makeCompletedFuture {
                                    try channel.pipeline.syncOperations.addHandlers([
                                        NIOWebSocketFrameAggregator(
                                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096,
                                            maxAccumulatedFrameSize: options.maxFrameSize),
                                        WebSocketControlHandler(isClient: true),
                                    ])
                                    return .websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel), timer)
                                }
                            })
                        var headers = HTTPHeaders()
                        let host = url.host.contains(":") ? "[\(url.host)]" : url.host
                        headers.add(name: "Host", value: "\(host):\(url.port)")
                        for (name, value) in extra { headers.add(name: name, value: value) }
                        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.requestURI, headers: headers)
                        let configuration = NIOTypedHTTPClientUpgradeConfiguration<OutboundUpgrade>(
                            upgradeRequestHead: head,
                            upgraders: [upgrader],
                            notUpgradingCompletionHandler: { channel in
                                channel.close(promise: nil)
                                return channel.eventLoop.makeSucceededFuture(.refused)
                            })
                        return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                            configuration: .init(upgradeConfiguration: configuration))
                    }
                }
        } catch let error as PaddingtonError {
            throw error
        } catch {
            throw PaddingtonError(.transport, "cannot connect to \(url.host):\(url.port)", cause: error)
        }
    }
}
