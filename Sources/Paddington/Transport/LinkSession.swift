import Logging
import NIOCore
import NIOWebSocket

/// Runs one established link until it ends: the read loop, the link's delivery tasks, and the
/// bookkeeping around them (registration, events, the reason it ended).
///
/// **The read loop only reads.** It takes each frame, lets the codec open it (keepalives and other
/// link-internal frames end there), offers the message to the taps, and queues it in the link's
/// ``PeerInbox``. Handlers run on delivery tasks that drain the queue: one for ordered delivery, up to
/// `maxPerPeer` for concurrent delivery, started when messages are queued and ended when it is empty
/// (an idle link holds none). A handler that awaits something from its own peer therefore never blocks
/// the loop that reads it; only a full queue does (backpressure).
struct LinkSession {
    let core: MeshCore
    let mesh: Mesh

    typealias Frames = NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator

    /// Registers `link` (claiming `claim` if the handshake held one), then runs it to its end.
    ///
    /// - Throws: only when the link cannot be registered (`name@zone` is taken, or the mesh is shutting
    ///   down); once registered, the session's end is reported as an event, not thrown.
    func run(_ link: Link, claim: UInt64?, frames: inout Frames, afterRegistering: () -> Void = {}) async throws {
        try core.registry.register(link, claim: claim)
        afterRegistering()
        var logger = core.logger
        logger[metadataKey: "peer"] = "\(link.id)"
        logger.info("peer connected", metadata: [
            "peer.engine": "\(link.info.engine)", "peer.version": "\(link.info.version)",
            "protocol": "\(link.info.protocolVersion)",
        ])
        core.metrics.handshakeSucceeded(link.info)
        link.metrics.up.record(1)
        core.emit(.peerConnected(link.info))

        let context = MessageContext(mesh: mesh, peer: link.id, logger: logger)
        let workers: Int
        switch core.options.delivery {
        case .ordered: workers = 1
        case .concurrent(let maxPerPeer): workers = max(1, maxPerPeer)
        }
        let inbox = PeerInbox(limits: PeerInbox.Limits(
            messages: core.options.inboundQueueDepth, bytes: core.options.inboundBufferSize, workers: workers))
        let pipeline = core.pipeline
        let controller = link.controller
        let running = RunningRequests(eventLoop: link.channel.eventLoop)
        let reason: PaddingtonError = await withDiscardingTaskGroup { group in
            // Delivery tasks are started when messages are queued and end when the queue is empty.
            let reason = await readLoop(link, frames: &frames, inbox: inbox, running: running, logger: logger) {
                group.addTask {
                    while let message = inbox.take(cancelled: Task.isCancelled) {
                        await pipeline.deliver(message, context: context)
                        controller.messageHandled()
                    }
                }
            }
            inbox.finish()
            return reason
        }
        // Nobody can be answered any more: stop the handlers, fail the requests in flight.
        running.cancelAll()
        let dropped = inbox.discardAll()
        if dropped > 0 {
            logger.notice("queued messages dropped: the session was cancelled before their handlers ran", metadata: ["count": "\(dropped)"])
        }
        link.abort(reason: reason)
        let final = link.closeReason ?? reason
        // Down before the slot is free, so a new link to the same peer cannot be marked up first.
        link.metrics.up.record(0)
        link.metrics.sendQueue.record(0)
        core.registry.unregister(link, reason: final)
        core.metrics.disconnected(link.info, reason: final)
        core.agents.pending.linkEnded(link, reason: final)
        link.releaseAgentWaiters()
        logger.info("peer disconnected", metadata: ["reason": "\(final.code)", "error": "\(final.message)"])
        core.emit(.peerDisconnected(link.id, reason: final))
    }

    private func readLoop(
        _ link: Link, frames: inout Frames, inbox: PeerInbox, running: RunningRequests, logger: Logger, startDelivery: () -> Void
    ) async -> PaddingtonError {
        let controller = link.controller
        let codec = link.codec
        let metrics = link.metrics
        var tookFrame = false
        // Whether the peer's agent support is known (protocol 2 learns it from the peer's first frame).
        var agentSupportKnown = codec.agentSupport != .undecided
        while true {
            controller.waiting(tookFrame: tookFrame)
            tookFrame = false
            let frame: WebSocketFrame?
            do {
                frame = try await frames.next()
                handOffFromEventLoop()
            } catch {
                return link.closeReason ?? HandshakeDriver.linkFailure(error, during: "the session")
            }
            guard let frame else {
                return link.closeReason
                    ?? PaddingtonError(.connectionLost, "the connection ended without a WebSocket Close (the peer's process or the network went away)")
            }
            tookFrame = true
            metrics.framesIn.increment()
            metrics.bytesIn.increment(by: Int64(frame.data.readableBytes))
            switch frame.opcode {
            case .ping, .pong:
                continue
            case .connectionClose:
                // Answered once every frame already accepted has been written.
                controller.peerSentClose(reason: Self.peerCloseReason(frame.data))
                continue
            default:
                break
            }
            let inbound: InboundFrame
            do {
                inbound = try codec.open(frame)
            } catch {
                let failure = PaddingtonError.peerFailure(error)
                logger.notice("dropping peer: bad frame", metadata: ["reason": "\(failure.code)", "error": "\(failure.message)"])
                link.close(reason: failure)
                return failure
            }
            if !agentSupportKnown, codec.agentSupport != .undecided {
                agentSupportKnown = true
                link.releaseAgentWaiters()
            }
            let message: Message
            switch inbound {
            case .message(let payload):
                message = Message(sender: link.id.name, recipient: core.name, zone: link.id.zone, content: payload)
            case .agent(let payload):
                guard let received = core.agents.receive(payload, on: link, running: running, mesh: mesh, logger: logger) else { continue }
                message = received
            case .peerTakesAgentFrames:
                // Sends our `AgentFrames`, which settles the support: only then may requests be sealed.
                link.startAgentFrames()
                agentSupportKnown = true
                link.releaseAgentWaiters()
                continue
            case .keepalive, .ignored:
                continue
            }
            link.messagesIn.add(1, ordering: .relaxed)
            metrics.messagesIn.increment()
            core.statistics.messageReceived()
            if core.pipeline.tap(message, from: link.info) { continue }
            controller.messageArrived()
            do {
                if try await inbox.enqueue(message) { startDelivery() }
            } catch {
                return link.closeReason ?? PaddingtonError(.shutdown, "the session was cancelled")
            }
        }
    }

    /// Why the peer closed, from its Close frame's status: 1001 (going away) means it is shutting down.
    static func peerCloseReason(_ data: ByteBuffer) -> PaddingtonError {
        var data = data
        guard let status = data.readInteger(as: UInt16.self) else {
            return PaddingtonError(.connectionClosed, "the peer closed the link")
        }
        if status == 1001 {
            return PaddingtonError(.peerShutdown, "the peer closed the link: it is shutting down")
        }
        return PaddingtonError(.connectionClosed, "the peer closed the link (WebSocket status \(status))")
    }
}
