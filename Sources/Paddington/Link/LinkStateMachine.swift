import NIOCore
import NIOWebSocket

/// The life of one connection as a value, with no I/O: the handshake's step deadline, then, once the
/// link is established, its send budget, its liveness and its closing handshake.
///
/// Every method takes the time as an argument and returns what the caller must do (``Effects``), so
/// the whole of it is tested without sockets or clocks (`LinkStateMachineTests`). ``LinkController``
/// owns one, behind a lock, and carries out the effects: it resumes senders, writes the Close, closes
/// the channel, and keeps the one timer of the connection set to ``nextDeadline``.
///
/// `Waiter` is what a sender parks while it waits for budget (a continuation in the controller, an
/// integer in the tests).
///
/// **Send budget.** Frames accepted but not yet written count against a budget of bytes and of frames.
/// One frame is always accepted when nothing is in flight. Beyond the budget, senders wait in arrival
/// order, and a new sender never overtakes a waiting one. Waiting senders are let in only when every
/// frame in flight has been written: NIO's event loop runs queued tasks until none are left before it
/// polls for I/O, so a sender faster than the loop would otherwise keep it from ever reading.
///
/// **Closing without losing what was accepted.** Whoever starts closing, the link stops accepting
/// frames, waits until every accepted frame is written, and only then writes its Close. It then waits
/// for the peer's Close for as long as the peer keeps sending (see ``silence(at:)``), and shuts the
/// socket once the peer has been silent for ``Configuration/closeTimeout``.
///
/// **Liveness.** Silence is the time the session has waited for a frame without one arriving while it
/// had nothing of the peer's in hand. Time during which it is busy with the peer's frames or messages
/// does not count: frames that arrived on the channel and wait for the read loop (a busy machine may
/// not schedule it for a while), the read loop waiting for room in the per-peer queue, a handler
/// running one of the peer's messages. Otherwise our own slowness would make a live peer look dead. After ``Configuration/idleTimeout``
/// of silence the link is aborted; after ``Configuration/keepaliveInterval`` without sending, a
/// keepalive is due.
package struct LinkStateMachine<Waiter> {
    package struct Configuration: Sendable {
        /// Bytes of frames accepted but not yet written.
        package var budgetBytes: Int
        /// Frames accepted but not yet written.
        package var budgetFrames: Int
        /// Silence after which an established link is aborted.
        package var idleTimeout: TimeAmount
        /// Time without sending after which a keepalive is due.
        package var keepaliveInterval: TimeAmount
        /// Silence after our Close after which the socket is shut.
        package var closeTimeout: TimeAmount
        /// The limit of each step before the link is established (upgrade, each handshake frame).
        package var stepTimeout: TimeAmount

        package init(
            budgetBytes: Int, budgetFrames: Int = 256, idleTimeout: TimeAmount, keepaliveInterval: TimeAmount,
            closeTimeout: TimeAmount = .seconds(2), stepTimeout: TimeAmount
        ) {
            self.budgetBytes = budgetBytes
            self.budgetFrames = budgetFrames
            self.idleTimeout = idleTimeout
            self.keepaliveInterval = keepaliveInterval
            self.closeTimeout = closeTimeout
            self.stepTimeout = stepTimeout
        }
    }

    /// What the owner must do after a call, in this order: fail, resume, write the Close, send a
    /// keepalive, close the channel.
    package struct Effects {
        /// Senders to fail with ``failure``.
        package var fail: [Waiter] = []
        package var failure: PaddingtonError?
        /// Senders whose frames were let in.
        package var resume: [Waiter] = []
        /// Write a Close frame with this code.
        package var writeClose: WebSocketErrorCode?
        /// Send a keepalive frame (it bypasses the budget).
        package var sendKeepalive = false
        /// Close the socket now.
        package var closeChannel = false
        /// With ``closeChannel``: first write a Close with this code (an established link aborted before
        /// its Close went out: the peer learns why), and close the socket once it is written.
        package var closeWithFrame: WebSocketErrorCode?

        package var isEmpty: Bool {
            fail.isEmpty && resume.isEmpty && writeClose == nil && !sendKeepalive && !closeChannel
        }
    }

    /// The outcome of asking for budget.
    package enum Reservation {
        /// The frame is accepted; write it.
        case granted
        /// Park the sender with ``park(_:id:bytes:)`` under this id.
        case wait(id: UInt64)
        /// The link is closing; the frame is not accepted.
        case refused(PaddingtonError)
    }

    private enum Phase {
        /// Upgrade and handshake: only the step deadline matters.
        case connecting
        /// Data flows.
        case established
    }

    package let configuration: Configuration
    private var phase: Phase = .connecting
    private var stepDeadline: NIODeadline?
    /// Whether a step deadline passed (the cause of the failure was a timeout, not the peer).
    package private(set) var stepTimedOut = false

    /// Why the link is closing; set once, after which no frame is accepted.
    package private(set) var closeReason: PaddingtonError?
    private var closeDue = false
    private var closeWritten = false
    /// Once our Close is written: when to check whether the peer has been silent long enough.
    private var closeCheckAt: NIODeadline?
    /// The peer's Close has arrived.
    package private(set) var peerClosed = false
    /// The socket has been closed (by us or the peer); nothing more happens.
    private var channelClosed = false

    private var inFlightFrames = 0
    /// Bytes of frames accepted and not yet written (the send queue).
    package private(set) var inFlightBytes = 0
    private var waiters: [(id: UInt64, bytes: Int, waiter: Waiter)] = []
    private var nextWaiterID: UInt64 = 0

    private var lastSent: NIODeadline
    private var waitingSince: NIODeadline
    /// The read loop took a frame and is not yet waiting for the next.
    private var readerBusy = false
    /// The peer's messages queued for its handlers or being handled.
    private var pendingMessages = 0
    /// Frames that arrived on the channel and the session has not taken yet.
    private var unreadFrames = 0
    /// When the last frame arrived on the channel.
    private var lastArrival: NIODeadline
    private var busy: Bool { readerBusy || pendingMessages > 0 || unreadFrames > 0 }

    package init(configuration: Configuration, now: NIODeadline) {
        self.configuration = configuration
        lastSent = now
        waitingSince = now
        lastArrival = now
    }

    // MARK: Before the link is established

    /// Starts the limit of one step (the upgrade, a handshake frame).
    package mutating func armStep(now: NIODeadline) {
        stepDeadline = now + configuration.stepTimeout
    }

    /// The step completed.
    package mutating func disarmStep() {
        stepDeadline = nil
    }

    /// The handshake completed: data may flow, liveness counts from now.
    package mutating func established(now: NIODeadline) {
        phase = .established
        stepDeadline = nil
        lastSent = now
        waitingSince = now
        readerBusy = false
    }

    // MARK: Send budget

    /// Asks to accept a frame of `bytes`. `wait: false` takes the bytes at once (keepalives, which must
    /// not queue behind application frames).
    package mutating func reserve(bytes: Int, wait: Bool, now: NIODeadline) -> Reservation {
        if let closeReason { return .refused(closingError(closeReason)) }
        if !wait || (waiters.isEmpty && fits(bytes)) {
            inFlightFrames += 1
            inFlightBytes += bytes
            lastSent = now
            return .granted
        }
        nextWaiterID += 1
        return .wait(id: nextWaiterID)
    }

    /// Takes `bytes` of the send budget only when that needs no waiting: nil when it would wait.
    package mutating func reserveIfFree(bytes: Int, now: NIODeadline) -> Reservation? {
        if let closeReason { return .refused(closingError(closeReason)) }
        guard waiters.isEmpty, fits(bytes) else { return nil }
        return reserve(bytes: bytes, wait: true, now: now)
    }

    /// Parks a sender that was told to wait. Returns the effects: the sender may be let in at once
    /// (budget was freed in between) or refused (the link started closing in between).
    package mutating func park(_ waiter: Waiter, id: UInt64, bytes: Int, now: NIODeadline) -> Effects {
        var effects = Effects()
        if let closeReason {
            effects.fail = [waiter]
            effects.failure = closingError(closeReason)
            return effects
        }
        waiters.append((id, bytes, waiter))
        effects.resume = grant(now: now)
        return effects
    }

    /// A parked sender gave up (its task was cancelled). Returns it when it was still waiting.
    package mutating func cancelWaiter(id: UInt64) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index).waiter
    }

    /// Frames accepted earlier have been written (or their writes failed): give their bytes back, let
    /// waiting senders in, and write the Close once the last frame is out.
    package mutating func written(frames: Int = 1, bytes: Int, now: NIODeadline) -> Effects {
        inFlightFrames -= frames
        inFlightBytes -= bytes
        var effects = Effects()
        effects.resume = grant(now: now)
        effects.writeClose = takeCloseIfDue(now: now)
        return effects
    }

    private func fits(_ bytes: Int) -> Bool {
        inFlightFrames == 0
            || (inFlightFrames < configuration.budgetFrames && inFlightBytes + bytes <= configuration.budgetBytes)
    }

    /// Once nothing is in flight, lets waiting senders in, in order, as far as the budget goes.
    private mutating func grant(now: NIODeadline) -> [Waiter] {
        guard inFlightFrames == 0, closeReason == nil else { return [] }
        var granted: [Waiter] = []
        while let first = waiters.first, fits(first.bytes) {
            waiters.removeFirst()
            inFlightFrames += 1
            inFlightBytes += first.bytes
            granted.append(first.waiter)
        }
        if !granted.isEmpty { lastSent = now }
        return granted
    }

    // MARK: Closing

    /// Starts the closing handshake: no more frames are accepted; once every accepted frame is written,
    /// the Close goes out. Used for our own closes and to answer the peer's Close.
    package mutating func close(reason: PaddingtonError, now: NIODeadline) -> Effects {
        if closeReason == nil { closeReason = reason }
        closeDue = true
        var effects = failWaiters()
        effects.writeClose = takeCloseIfDue(now: now)
        return effects
    }

    /// The peer's Close arrived: answer it (after the frames already accepted) with this reason.
    package mutating func peerSentClose(reason: PaddingtonError, now: NIODeadline) -> Effects {
        peerClosed = true
        return close(reason: reason, now: now)
    }

    /// Closes the socket at once (idle peer, shutdown timeout, a broken protocol): frames not yet
    /// written are lost.
    package mutating func abort(reason: PaddingtonError) -> Effects {
        if closeReason == nil { closeReason = reason }
        var effects = failWaiters()
        if !channelClosed {
            channelClosed = true
            effects.closeChannel = true
            if case .established = phase, !closeWritten, let closeReason {
                closeWritten = true
                effects.closeWithFrame = Self.closeCode(for: closeReason)
            }
        }
        return effects
    }

    /// The socket closed (either side); nothing more is scheduled.
    package mutating func channelDidClose() -> Effects {
        channelClosed = true
        stepDeadline = nil
        if closeReason == nil {
            closeReason = PaddingtonError(.connectionLost, "the connection closed without a WebSocket Close (the peer's process or the network went away)")
        }
        return failWaiters()
    }

    private mutating func failWaiters() -> Effects {
        var effects = Effects()
        guard !waiters.isEmpty, let closeReason else { return effects }
        effects.fail = waiters.map(\.waiter)
        effects.failure = closingError(closeReason)
        waiters = []
        return effects
    }

    private mutating func takeCloseIfDue(now: NIODeadline) -> WebSocketErrorCode? {
        guard closeDue, !closeWritten, !channelClosed, inFlightFrames == 0, let closeReason else { return nil }
        closeWritten = true
        closeCheckAt = now + configuration.closeTimeout
        return Self.closeCode(for: closeReason)
    }

    /// The Close status for a reason: going away at shutdown, protocol error when the peer broke the
    /// protocol, normal otherwise.
    package static func closeCode(for reason: PaddingtonError) -> WebSocketErrorCode {
        switch reason.code {
        case .shutdown: return .goingAway
        case .protocolViolation, .malformedFrame, .decryptionFailed, .invalidJSON: return .protocolError
        default: return .normalClosure
        }
    }

    private func closingError(_ reason: PaddingtonError) -> PaddingtonError {
        PaddingtonError(.connectionClosed, "the link is closing: \(reason.message)")
    }

    // MARK: Liveness

    /// The session took a message of the peer's for its handlers: until it is handled, and while the
    /// session waits for room to queue it, the peer is not silent.
    package mutating func messageArrived() {
        readerBusy = true
        pendingMessages += 1
    }

    /// The session waits for the next frame, having taken one since it last waited (`tookFrame`): from
    /// now on, time without a frame (and with none of the peer's frames or messages in hand) is the
    /// peer's silence.
    package mutating func waiting(now: NIODeadline, tookFrame: Bool = false) {
        waitingSince = now
        readerBusy = false
        if tookFrame { unreadFrames -= 1 }
    }

    /// A frame arrived on the channel (it waits for the session until taken).
    package mutating func frameArrived(now: NIODeadline) {
        unreadFrames += 1
        lastArrival = now
    }

    /// The handshake took a frame that arrived (the session reports its own with ``waiting(now:tookFrame:)``).
    package mutating func frameTaken() {
        unreadFrames -= 1
    }

    /// A handler finished one of the peer's queued messages; when none is left, silence counts from now.
    package mutating func messageHandled(now: NIODeadline) {
        pendingMessages -= 1
        if pendingMessages == 0, !readerBusy { waitingSince = max(waitingSince, now) }
    }

    /// How long the peer has been silent: zero while the session is busy with the peer's frames.
    package func silence(at now: NIODeadline) -> TimeAmount {
        busy ? .zero : now - max(waitingSince, lastArrival)
    }

    // MARK: The timer

    /// When the timer must fire next, if at all.
    package var nextDeadline: NIODeadline? {
        if channelClosed { return nil }
        switch phase {
        case .connecting:
            return stepDeadline
        case .established:
            if let closeCheckAt { return closeCheckAt }
            var deadline = lastSent + configuration.keepaliveInterval
            if !busy { deadline = min(deadline, waitingSince + configuration.idleTimeout) }
            return deadline
        }
    }

    /// The timer fired at `now`: what is due.
    package mutating func timerFired(now: NIODeadline) -> Effects {
        var effects = Effects()
        if channelClosed { return effects }
        switch phase {
        case .connecting:
            guard let stepDeadline, now >= stepDeadline else { return effects }
            self.stepDeadline = nil
            stepTimedOut = true
            channelClosed = true
            effects.closeChannel = true
        case .established:
            if let closeCheckAt {
                // Waiting for the peer's Close: shut the socket once the peer has been silent for the
                // close timeout; while frames arrive (or the session is busy with one), wait on.
                guard now >= closeCheckAt else { return effects }
                let silent = silence(at: now)
                if silent >= configuration.closeTimeout {
                    channelClosed = true
                    effects.closeChannel = true
                } else {
                    self.closeCheckAt = now + (configuration.closeTimeout - silent)
                }
                return effects
            }
            if silence(at: now) >= configuration.idleTimeout {
                let reason = PaddingtonError(.timeout, "nothing received for \(Self.describe(configuration.idleTimeout))")
                return abort(reason: reason)
            }
            if closeReason == nil, now - lastSent >= configuration.keepaliveInterval {
                lastSent = now
                effects.sendKeepalive = true
            }
        }
        return effects
    }

    static func describe(_ amount: TimeAmount) -> String {
        let nanoseconds = amount.nanoseconds
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000) seconds" }
        return "\(Double(nanoseconds) / 1e9) seconds"
    }
}

extension LinkStateMachine: Sendable where Waiter: Sendable {}
