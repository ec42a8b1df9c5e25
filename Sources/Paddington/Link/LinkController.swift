import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// Owns one connection's ``LinkStateMachine`` and carries out what it asks: it parks and resumes
/// senders, writes the Close, sends keepalives, closes the channel, and keeps the connection's one timer
/// set to the machine's next deadline.
///
/// It exists from the moment the TCP connection does (the channel initialiser makes it), so the same
/// object times the upgrade and each handshake step, then the established link's liveness and closing
/// handshake. Every method may be called from any thread.
final class LinkController: Sendable {
    typealias Waiter = CheckedContinuation<Void, any Error>

    private struct State {
        var machine: LinkStateMachine<Waiter>
        var timer: Scheduled<Void>?
        var timerDeadline: NIODeadline?
    }

    let channel: any Channel
    private let state: NIOLockedValueBox<State>
    /// Sends one keepalive frame; set when the link is established (the codec knows what one is).
    private let keepalive = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    init(channel: any Channel, configuration: LinkStateMachine<Waiter>.Configuration) {
        self.channel = channel
        state = NIOLockedValueBox(State(machine: LinkStateMachine(configuration: configuration, now: channel.eventLoop.now)))
        channel.closeFuture.whenComplete { _ in self.channelDidClose() }
    }

    var configuration: LinkStateMachine<Waiter>.Configuration {
        state.withLockedValue { $0.machine.configuration }
    }

    // MARK: Steps before the link is established

    /// Starts the limit of one step; when it passes, the channel closes and ``stepTimedOut`` is set.
    func armStep() {
        mutate { $0.armStep(now: channel.eventLoop.now) }
    }

    func disarmStep() {
        mutate { $0.disarmStep() }
    }

    /// Whether a step took longer than its limit (the reason the connection ended).
    var stepTimedOut: Bool { state.withLockedValue { $0.machine.stepTimedOut } }

    /// The handshake completed; `keepalive` sends one keepalive frame when one is due.
    func established(keepalive send: @escaping @Sendable () -> Void) {
        keepalive.withLockedValue { $0 = send }
        mutate { $0.established(now: channel.eventLoop.now) }
    }

    // MARK: Send budget

    /// Takes `bytes` of the send budget, waiting in line while it is spent (unless `wait` is false).
    func reserve(_ bytes: Int, wait: Bool) async throws {
        let reservation = state.withLockedValue { $0.machine.reserve(bytes: bytes, wait: wait, now: channel.eventLoop.now) }
        switch reservation {
        case .granted:
            return
        case .refused(let error):
            throw error
        case .wait(let id):
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: Waiter) in
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    update { $0.park(continuation, id: id, bytes: bytes, now: channel.eventLoop.now) }
                }
            } onCancel: {
                let waiter = state.withLockedValue { $0.machine.cancelWaiter(id: id) }
                waiter?.resume(throwing: CancellationError())
            }
        }
    }

    /// Takes `bytes` of the send budget when that needs no waiting. Returns false when it would wait;
    /// throws when the link is closing.
    func reserveIfFree(_ bytes: Int) throws -> Bool {
        let reservation = state.withLockedValue { $0.machine.reserveIfFree(bytes: bytes, now: channel.eventLoop.now) }
        switch reservation {
        case .none: return false
        case .some(.refused(let error)): throw error
        case .some: return true
        }
    }

    /// Takes `bytes` of the send budget at once, whatever is in flight (keepalives: they must not queue
    /// behind application frames). Throws when the link is closing.
    func reserveNow(_ bytes: Int) throws {
        let reservation = state.withLockedValue { $0.machine.reserve(bytes: bytes, wait: false, now: channel.eventLoop.now) }
        if case .refused(let error) = reservation { throw error }
    }

    /// Frames accepted by ``reserve(_:wait:)`` have been written, or their writes failed.
    ///
    /// - Returns: the bytes still accepted and not written (the send queue) after these.
    @discardableResult
    func written(frames: Int, bytes: Int) -> Int {
        var queued = 0
        update {
            let effects = $0.written(frames: frames, bytes: bytes, now: channel.eventLoop.now)
            queued = $0.inFlightBytes
            return effects
        }
        return queued
    }

    // MARK: Closing

    /// Why the link is closing or closed, once it is.
    var closeReason: PaddingtonError? { state.withLockedValue { $0.machine.closeReason } }

    /// Whether the peer sent its Close.
    var peerClosed: Bool { state.withLockedValue { $0.machine.peerClosed } }

    /// Starts the closing handshake (see ``LinkStateMachine/close(reason:now:)``).
    func close(reason: PaddingtonError) {
        update { $0.close(reason: reason, now: channel.eventLoop.now) }
    }

    /// The peer's Close arrived; answer it after the frames already accepted.
    func peerSentClose(reason: PaddingtonError) {
        update { $0.peerSentClose(reason: reason, now: channel.eventLoop.now) }
    }

    /// Closes the socket at once; frames not yet written are lost.
    func abort(reason: PaddingtonError) {
        update { $0.abort(reason: reason) }
    }

    private func channelDidClose() {
        update { $0.channelDidClose() }
    }

    // MARK: Liveness

    /// The session took a message of the peer's for its handlers (see ``LinkStateMachine/messageArrived()``).
    func messageArrived() {
        state.withLockedValue { $0.machine.messageArrived() }
    }

    /// The session waits for the next frame, having taken one since it last waited (`tookFrame`).
    func waiting(tookFrame: Bool = false) {
        mutate { $0.waiting(now: channel.eventLoop.now, tookFrame: tookFrame) }
    }

    /// A frame arrived on the channel (called by the control handler, on the event loop).
    func frameArrived() {
        state.withLockedValue { $0.machine.frameArrived(now: channel.eventLoop.now) }
    }

    /// The handshake took a frame from the channel.
    func frameTaken() {
        state.withLockedValue { $0.machine.frameTaken() }
    }

    /// A handler finished one of the peer's queued messages.
    func messageHandled() {
        mutate { $0.messageHandled(now: channel.eventLoop.now) }
    }

    // MARK: Effects and the timer

    /// Applies one change to the machine, then carries out its effects and moves the timer if the next
    /// deadline came closer.
    private func update(_ change: (inout LinkStateMachine<Waiter>) -> LinkStateMachine<Waiter>.Effects) {
        let effects = state.withLockedValue { state -> LinkStateMachine<Waiter>.Effects in
            let effects = change(&state.machine)
            rescheduleIfNeeded(&state)
            return effects
        }
        if !effects.isEmpty { perform(effects) }
    }

    private func mutate(_ change: (inout LinkStateMachine<Waiter>) -> Void) {
        state.withLockedValue { state in
            change(&state.machine)
            rescheduleIfNeeded(&state)
        }
    }

    /// Schedules the timer when the machine's next deadline is earlier than the one scheduled (or
    /// none is). A later deadline needs nothing: the timer fires early, finds nothing due, and is set
    /// again for the machine's deadline at that time.
    private func rescheduleIfNeeded(_ state: inout State) {
        guard let deadline = state.machine.nextDeadline else {
            state.timer?.cancel()
            state.timer = nil
            state.timerDeadline = nil
            return
        }
        if let scheduled = state.timerDeadline, scheduled <= deadline { return }
        state.timer?.cancel()
        state.timerDeadline = deadline
        state.timer = channel.eventLoop.scheduleTask(deadline: deadline) { [weak self] in self?.timerFired() }
    }

    private func timerFired() {
        let effects = state.withLockedValue { state -> LinkStateMachine<Waiter>.Effects in
            state.timer = nil
            state.timerDeadline = nil
            let effects = state.machine.timerFired(now: channel.eventLoop.now)
            rescheduleIfNeeded(&state)
            return effects
        }
        if !effects.isEmpty { perform(effects) }
    }

    private func perform(_ effects: LinkStateMachine<Waiter>.Effects) {
        if let failure = effects.failure {
            for waiter in effects.fail { waiter.resume(throwing: failure) }
        }
        for waiter in effects.resume { waiter.resume() }
        if let code = effects.writeClose {
            var data = channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: code)
            let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
            channel.writeAndFlush(frame, promise: nil)
        }
        if effects.sendKeepalive, let send = keepalive.withLockedValue({ $0 }) {
            send()
        }
        if effects.closeChannel {
            if let code = effects.closeWithFrame {
                // Tell the peer why (a protocol error is 1002), then close; a peer that does not read
                // cannot hold the socket open: the close comes after a second at the latest.
                let channel = self.channel
                var data = channel.allocator.buffer(capacity: 2)
                data.write(webSocketErrorCode: code)
                let backstop = channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
                channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)).whenComplete { _ in
                    backstop.cancel()
                    channel.close(promise: nil)
                }
            } else {
                channel.close(promise: nil)
            }
        }
    }
}
