import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import NIOWebSocket
import PaddingtonCrypto

/// One established, authenticated link to a peer: what the handshake produced (the peer's identity and
/// the codec) on top of the connection's ``LinkController`` (budget, liveness, closing).
///
/// ``send(_:)`` prepares the payload with the codec on the caller's task, takes its share of the send
/// budget (waiting while it is spent), and hands the frame to the channel in wire order; it returns
/// without waiting for the event loop. What "accepted" guarantees, and how closing keeps it, is
/// described on ``LinkStateMachine``.
final class Link: Sendable {
    let id: PeerID
    let info: PeerInfo
    let codec: any LinkCodec
    let controller: LinkController
    private let maxFrameSize: Int
    /// When the link was established.
    let establishedAt = ContinuousClock.now
    /// Application messages received and sent on the link (keepalives and agent control excluded).
    let messagesIn = Atomic<Int>(0)
    let messagesOut = Atomic<Int>(0)
    /// The link's swift-metrics instruments, made once here.
    let metrics: LinkMetrics

    /// The link as ``Mesh/links`` reports it.
    var status: LinkStatus {
        LinkStatus(
            peer: info, connectedFor: .now - establishedAt,
            messagesIn: messagesIn.load(ordering: .relaxed), messagesOut: messagesOut.load(ordering: .relaxed))
    }

    var channel: any Channel { controller.channel }

    init(session: EstablishedSession, controller: LinkController, maxFrameSize: Int, metrics: MeshMetrics? = nil) {
        id = PeerID(name: session.peerName, zone: session.zone)
        info = PeerInfo(
            id: id, engine: session.peerEngine, version: session.peerVersion, weDialled: session.role == .client,
            protocolVersion: session.codec.protocolVersion)
        codec = session.codec
        self.metrics = metrics?.link(info) ?? LinkMetrics(info: info, service: "", factory: NOOPMetricsHandler.instance)
        self.controller = controller
        self.maxFrameSize = maxFrameSize
        let acceptsPings = info.acceptsPings
        if info.protocolVersion == 2, info.engine != EngineIdentity().engine, let codec = codec as? ProtocolTwoCodec {
            // Presumed without waiting for the first frame of another implementation: requests to it fail
            // at once, unless its first frame announces agent frames after all.
            codec.presumeNoAgentFrames()
        }
        for frame in codec.openingFrames(allocator: controller.channel.allocator) where (try? controller.reserveNow(frame.size)) != nil {
            emit(frame)
        }
        controller.established { [weak self] in
            try? self?.sendKeepalive(ping: acceptsPings)
        }
    }

    /// Prepares and hands over one payload. Returns once the link has accepted the frame.
    func send(_ payload: Payload) async throws {
        let frame = try codec.prepare(payload, maxFrameSize: maxFrameSize, allocator: channel.allocator)
        try await controller.reserve(frame.size, wait: true)
        emit(frame)
    }

    /// Prepares and hands over one agent frame: to a peer that takes them only.
    ///
    /// - Parameter wait: whether to wait while the send budget is spent; a cancel frame does not.
    func send(agent frame: AgentFrame, wait: Bool = true) async throws {
        let prepared = try prepare(agent: frame)
        if wait {
            try await controller.reserve(prepared.size, wait: true)
        } else {
            try controller.reserveNow(prepared.size)
        }
        emit(prepared)
    }

    /// Prepares an agent frame (for a peer that takes them).
    func prepare(agent frame: AgentFrame) throws -> PreparedFrame {
        try codec.prepareAgent(frame, maxFrameSize: maxFrameSize, allocator: channel.allocator)
    }

    /// Hands over a prepared frame when the send budget lets it go at once; false when it would wait.
    func emitIfFree(_ frame: PreparedFrame) throws -> Bool {
        guard try controller.reserveIfFree(frame.size) else { return false }
        emit(frame)
        return true
    }

    /// Waits for the send budget, then hands over a prepared frame unless `stillWanted` says no (the
    /// budget is given back). Returns whether it was sent.
    func emitWhenFree(_ frame: PreparedFrame, stillWanted: () -> Bool) async throws -> Bool {
        try await controller.reserve(frame.size, wait: true)
        guard stillWanted() else {
            controller.written(frames: 1, bytes: frame.size)
            return false
        }
        emit(frame)
        return true
    }

    /// The peer announced agent frames (protocol 2): from the next frame on, this side's DATA frames
    /// are agent frames too.
    func startAgentFrames() {
        guard let codec = codec as? ProtocolTwoCodec else { return }
        let frame = codec.prepareAgentFramesStart()
        guard (try? controller.reserveNow(frame.size)) != nil else { return }
        emit(frame)
    }

    private let agentWaiters = NIOLockedValueBox([OneShot<AgentSupport>]())

    /// Whether the peer takes agent frames, waiting until `deadline` while that is not known yet (a
    /// protocol 2 link before the peer's first frame). `.undecided` when the deadline passed first.
    func agentSupport(waitingUntil deadline: NIODeadline) async -> AgentSupport {
        let now = codec.agentSupport
        guard now == .undecided else { return now }
        let waiter = OneShot<AgentSupport>()
        agentWaiters.withLockedValue { $0.append(waiter) }
        // Settled while the waiter was being added: the read loop may have released the list already.
        if codec.agentSupport != .undecided || closeReason != nil { releaseAgentWaiters() }
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) { waiter.complete(.undecided) }
        defer { timer.cancel() }
        return await waiter.wait { waiter.complete(.undecided) }
    }

    /// Tells the waiters of ``agentSupport(waitingUntil:)`` what is now known (or, once the link is
    /// gone, that it never will be).
    func releaseAgentWaiters() {
        let waiters = agentWaiters.withLockedValue { waiters in
            defer { waiters.removeAll() }
            return waiters
        }
        let support = codec.agentSupport == .undecided ? AgentSupport.unsupported : codec.agentSupport
        for waiter in waiters { waiter.complete(support) }
    }

    /// Sends the protocol's keepalive, and a WebSocket Ping when `ping` is set. Keepalives do not wait
    /// for budget behind application frames.
    func sendKeepalive(ping: Bool) throws {
        let frame = codec.prepareKeepalive(allocator: channel.allocator)
        try controller.reserveNow(frame.size)
        emit(frame)
        if ping {
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()), promise: nil)
        }
    }

    /// Hands a prepared frame to the channel, in the order the codec seals them (protocol 2's peer opens
    /// frames strictly in that order). Frames wait in the link's ``Outbox`` and one task on the event
    /// loop writes all that have gathered, with one flush: under load that is one system call for many
    /// small frames, and the loop is not flooded with a task per frame (it runs every queued task before
    /// it polls for I/O, so a flood would keep it from reading). A keepalive from the timer, on the event
    /// loop itself, queues behind the frames before it like any other.
    private func emit(_ frame: PreparedFrame) {
        let size = frame.size
        do {
            var wrote = false
            try codec.emit(frame) { sealed in
                wrote = true
                self.queueWrite(sealed, size: size)
            }
            // A frame the codec chose not to write (a second `AgentFrames`) gives its budget back.
            if !wrote { controller.written(frames: 1, bytes: size) }
        } catch let error as PaddingtonError {
            controller.written(frames: 1, bytes: size)
            controller.abort(reason: error)
        } catch {
            controller.written(frames: 1, bytes: size)
            controller.abort(reason: PaddingtonError(.protocolViolation, "the codec failed to seal a frame", cause: error))
        }
    }

    private struct Outbox {
        var frames: [(frame: WebSocketFrame, size: Int)] = []
        var drainScheduled = false
    }

    private let outbox = NIOLockedValueBox(Outbox())

    private func queueWrite(_ frame: WebSocketFrame, size: Int) {
        let schedule = outbox.withLockedValue { outbox -> Bool in
            outbox.frames.append((frame, size))
            if outbox.drainScheduled { return false }
            outbox.drainScheduled = true
            return true
        }
        if schedule { channel.eventLoop.execute { self.drainOutbox() } }
    }

    /// On the event loop: writes every frame waiting, flushes once, and gives their budget back when the
    /// last is written (writes complete in order) or failed.
    private func drainOutbox() {
        let batch = outbox.withLockedValue { outbox -> [(frame: WebSocketFrame, size: Int)] in
            outbox.drainScheduled = false
            defer { outbox.frames.removeAll(keepingCapacity: true) }
            return outbox.frames
        }
        guard let last = batch.indices.last else { return }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        for index in batch.indices {
            channel.write(batch[index].frame, promise: index == last ? promise : nil)
        }
        channel.flush()
        let controller = self.controller
        let metrics = self.metrics
        let frames = batch.count
        let bytes = batch.reduce(0) { $0 + $1.size }
        metrics.framesOut.increment(by: Int64(frames))
        metrics.bytesOut.increment(by: Int64(bytes))
        promise.futureResult.whenComplete { _ in
            metrics.sendQueue.record(controller.written(frames: frames, bytes: bytes))
        }
    }

    /// Why the link is closing or closed, once it is.
    var closeReason: PaddingtonError? { controller.closeReason }

    /// Starts the closing handshake: no more frames are accepted; the Close follows the accepted ones.
    func close(reason: PaddingtonError) {
        controller.close(reason: reason)
    }

    /// Closes the socket at once; frames not yet written are lost.
    func abort(reason: PaddingtonError) {
        controller.abort(reason: reason)
    }
}

extension PeerInfo {
    /// Whether liveness pings may go to this peer. A Rust server hands every Ping to its session loop,
    /// which logs a de-enveloping error for each; its clients skip them silently.
    var acceptsPings: Bool {
        !(weDialled && engine == "paddington")
    }
}
