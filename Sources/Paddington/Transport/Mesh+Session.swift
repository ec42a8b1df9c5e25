import Logging
import NIOCore
import NIOWebSocket

extension Mesh {
    /// Runs an established link until it ends: reads and delivers payloads, keeps the link alive,
    /// enforces the idle limit, then unregisters it and reports why it ended.
    nonisolated func runSession(
        _ connection: PeerConnection,
        frames: inout NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator
    ) async {
        var logger = self.logger
        logger[metadataKey: "peer"] = "\(connection.id)"
        logger.info("peer connected", metadata: ["peer.engine": "\(connection.info.engine)", "peer.version": "\(connection.info.version)"])
        emit(.peerConnected(connection.info))

        let reason: PaddingtonError = await withDiscardingTaskGroup { group in
            group.addTask { await self.keepAlive(connection) }
            let reason = await readLoop(connection, frames: &frames, logger: logger)
            group.cancelAll()
            return reason
        }
        connection.abort(reason: reason)
        exchange.unregister(connection)
        let final = connection.closeReason ?? reason
        logger.info("peer disconnected", metadata: ["reason": "\(final.code)", "error": "\(final.message)"])
        emit(.peerDisconnected(connection.id, reason: final))
    }

    private nonisolated func readLoop(
        _ connection: PeerConnection,
        frames: inout NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator,
        logger: Logger
    ) async -> PaddingtonError {
        let context = MessageContext(mesh: self, peer: connection.id, logger: logger)
        let perPeer: AsyncSemaphore?
        if case .concurrent(let limit) = options.delivery { perPeer = AsyncSemaphore(limit: limit) } else { perPeer = nil }
        return await withDiscardingTaskGroup { group in
            while true {
                let frame: WebSocketFrame?
                connection.markWaiting()
                do {
                    frame = try await frames.next()
                    handOffFromEventLoop()
                } catch {
                    return connection.closeReason ?? Self.linkFailure(error, during: "the session")
                }
                guard let frame else {
                    return connection.closeReason ?? PaddingtonError(.connectionClosed, "the peer closed the connection")
                }
                connection.markReceived()
                switch frame.opcode {
                case .text:
                    let payload: String
                    do {
                        payload = try connection.open(frame.data)
                    } catch let error as PaddingtonError {
                        logger.warning("dropping peer: bad frame", metadata: ["reason": "\(error.code)", "error": "\(error.message)"])
                        connection.close(reason: error)
                        return error
                    } catch {
                        return PaddingtonError(.protocolViolation, "\(error)")
                    }
                    if payload == PeerConnection.keepalivePayload { continue }
                    statisticsRecorder.messageReceived()
                    let message = Message(sender: connection.id.name, recipient: configuration.name, zone: connection.id.zone, payload: payload)
                    if let perPeer {
                        do { try await perPeer.acquire() } catch { return PaddingtonError(.shutdown, "cancelled") }
                        group.addTask {
                            await self.deliver(message, context: context)
                            perPeer.release()
                        }
                    } else {
                        await deliver(message, context: context)
                    }
                case .ping, .pong:
                    continue
                case .connectionClose:
                    // Answer once every frame already accepted has been written.
                    connection.close(reason: PaddingtonError(.connectionClosed, "the peer closed the link"))
                    continue
                default:
                    let error = PaddingtonError(.protocolViolation, "the peer sent a \(frame.opcode) frame; the protocol uses text frames only")
                    logger.warning("dropping peer: bad frame", metadata: ["reason": "\(error.code)", "error": "\(error.message)"])
                    connection.close(reason: error)
                    return error
                }
            }
        }
    }

    /// Runs the handler for one message under the global concurrency cap. Handler errors are logged.
    private nonisolated func deliver(_ message: Message, context: MessageContext) async {
        guard let handler = exchange.handler(for: context.peer) else {
            context.logger.debug("no handler for message")
            return
        }
        do {
            try await exchange.handlerSlots.acquire()
        } catch {
            return
        }
        defer { exchange.handlerSlots.release() }
        do {
            try await handler(message, context)
        } catch {
            context.logger.error("message handler failed", metadata: ["error": "\(error)"])
        }
    }

    /// Sends `KEEPALIVE` when the link has been quiet, and closes it when the peer has been silent
    /// past the idle limit.
    private nonisolated func keepAlive(_ connection: PeerConnection) async {
        let keepalive = TimeAmount.nanoseconds(options.keepaliveInterval.nanoseconds)
        let idle = TimeAmount.nanoseconds(options.idleTimeout.nanoseconds)
        let tick = Duration.nanoseconds(max(10_000_000, min(options.keepaliveInterval.nanoseconds, options.idleTimeout.nanoseconds) / 4))
        while !Task.isCancelled {
            do { try await Task.sleep(for: tick) } catch { return }
            if connection.silence > idle {
                connection.abort(reason: PaddingtonError(.timeout, "nothing received from \(connection.id) for \(options.idleTimeout)"))
                return
            }
            if NIODeadline.now() - connection.lastSent >= keepalive {
                try? await connection.sendKeepalive(ping: connection.acceptsPings)
            }
        }
    }

    /// The next handshake frame's bytes. A Close is answered and ends the handshake; other control
    /// frames and binary frames break the protocol here.
    nonisolated func nextHandshakeFrame(
        _ frames: inout NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator,
        timer: StepTimer,
        channel: any Channel
    ) async throws -> [UInt8] {
        let frame: WebSocketFrame?
        do {
            frame = try await frames.next()
            handOffFromEventLoop()
        } catch {
            if timer.fired { throw PaddingtonError(.timeout, "no handshake frame within \(options.handshakeTimeout)") }
            throw Self.linkFailure(error, during: "the handshake")
        }
        guard let frame else {
            if timer.fired { throw PaddingtonError(.timeout, "no handshake frame within \(options.handshakeTimeout)") }
            throw PaddingtonError(.connectionClosed, "the peer closed the connection during the handshake")
        }
        if frame.opcode == .connectionClose {
            var code = frame.data
            let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code.readSlice(length: 2) ?? ByteBuffer())
            channel.writeAndFlush(reply, promise: nil)
            throw PaddingtonError(.connectionClosed, "the peer closed the link during the handshake")
        }
        guard frame.opcode == .text else {
            throw PaddingtonError(.protocolViolation, "expected a text frame in the handshake, got a \(frame.opcode) frame")
        }
        return Array(buffer: frame.data)
    }

    /// A read that failed: a WebSocket protocol error from the peer (an oversized or fragmented
    /// control frame, a frame over the size limit, bad framing) or a broken connection.
    static func linkFailure(_ error: any Error, during step: String) -> PaddingtonError {
        if error is NIOWebSocketError {
            return PaddingtonError(.protocolViolation, "the peer broke WebSocket framing during \(step)", cause: error)
        }
        return PaddingtonError(.connectionClosed, "the connection failed during \(step)", cause: error)
    }

    nonisolated func textFrame(_ bytes: [UInt8], channel: any Channel) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: channel.allocator.buffer(bytes: bytes))
    }

    /// Turns any failure into a ``PaddingtonError`` with the right code.
    nonisolated func classify(_ error: any Error, timer: StepTimer?, during step: String) -> PaddingtonError {
        if timer?.fired == true {
            return PaddingtonError(.timeout, "\(step) took longer than \(options.handshakeTimeout)")
        }
        if let error = error as? PaddingtonError { return error }
        return PaddingtonError(.transport, "\(step) failed", cause: error)
    }
}
