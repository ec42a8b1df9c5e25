import NIOCore
import NIOWebSocket
import Testing
@testable import Paddington

/// The link's state machine without I/O: time is a parameter, waiters are integers.
@Suite("Link state machine")
struct LinkStateMachineTests {
    typealias Machine = LinkStateMachine<Int>

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func machine(
        budgetBytes: Int = 100, budgetFrames: Int = 3, idle: TimeAmount = .seconds(10), keepalive: TimeAmount = .seconds(4),
        closeTimeout: TimeAmount = .seconds(2), step: TimeAmount = .seconds(5), established: Bool = true
    ) -> Machine {
        var machine = Machine(
            configuration: .init(
                budgetBytes: budgetBytes, budgetFrames: budgetFrames, idleTimeout: idle, keepaliveInterval: keepalive,
                closeTimeout: closeTimeout, stepTimeout: step),
            now: start)
        if established { machine.established(now: start) }
        return machine
    }

    static func at(_ seconds: Double) -> NIODeadline { start + .nanoseconds(Int64(seconds * 1e9)) }

    func granted(_ reservation: Machine.Reservation) -> Bool {
        if case .granted = reservation { return true }
        return false
    }

    func waitID(_ reservation: Machine.Reservation) -> UInt64? {
        if case .wait(let id) = reservation { return id }
        return nil
    }

    // MARK: Budget

    @Test("one frame is always accepted when nothing is in flight, even over the byte budget")
    func firstFrameAlwaysFits() {
        var machine = Self.machine(budgetBytes: 10)
        #expect(granted(machine.reserve(bytes: 1000, wait: true, now: Self.start)))
        #expect(waitID(machine.reserve(bytes: 1, wait: true, now: Self.start)) != nil)
    }

    @Test("senders beyond the budget wait in order and are let in only when nothing is in flight")
    func waitersFIFOAfterDrain() {
        var machine = Self.machine(budgetBytes: 100, budgetFrames: 3)
        #expect(granted(machine.reserve(bytes: 60, wait: true, now: Self.start)))
        #expect(granted(machine.reserve(bytes: 40, wait: true, now: Self.start)))
        let first = machine.reserve(bytes: 50, wait: true, now: Self.start)
        let second = machine.reserve(bytes: 50, wait: true, now: Self.start)
        let third = machine.reserve(bytes: 1, wait: true, now: Self.start)
        guard let a = waitID(first), let b = waitID(second), let c = waitID(third) else {
            Issue.record("expected three waits")
            return
        }
        #expect(machine.park(1, id: a, bytes: 50, now: Self.start).resume.isEmpty)
        #expect(machine.park(2, id: b, bytes: 50, now: Self.start).resume.isEmpty)
        #expect(machine.park(3, id: c, bytes: 1, now: Self.start).resume.isEmpty)
        // One of two frames written: still one in flight, nobody is let in.
        #expect(machine.written(bytes: 60, now: Self.start).resume.isEmpty)
        // All written: waiters in order, as far as the budget goes (50 + 50, then 1 would exceed 100).
        #expect(machine.written(bytes: 40, now: Self.start).resume == [1, 2])
        #expect(machine.written(bytes: 50, now: Self.start).resume.isEmpty)
        #expect(machine.written(bytes: 50, now: Self.start).resume == [3])
    }

    @Test("a new sender never overtakes a waiting one")
    func noOvertaking() {
        var machine = Self.machine(budgetBytes: 100, budgetFrames: 3)
        #expect(granted(machine.reserve(bytes: 90, wait: true, now: Self.start)))
        guard let id = waitID(machine.reserve(bytes: 50, wait: true, now: Self.start)) else {
            Issue.record("expected a wait")
            return
        }
        _ = machine.park(1, id: id, bytes: 50, now: Self.start)
        // 5 bytes would fit the budget, but someone is waiting.
        #expect(waitID(machine.reserve(bytes: 5, wait: true, now: Self.start)) != nil)
    }

    @Test("the frame budget counts frames as well as bytes")
    func frameBudget() {
        var machine = Self.machine(budgetBytes: 1000, budgetFrames: 2)
        #expect(granted(machine.reserve(bytes: 1, wait: true, now: Self.start)))
        #expect(granted(machine.reserve(bytes: 1, wait: true, now: Self.start)))
        #expect(waitID(machine.reserve(bytes: 1, wait: true, now: Self.start)) != nil)
    }

    @Test("keepalives take budget at once, whatever is in flight")
    func keepalivesBypass() {
        var machine = Self.machine(budgetBytes: 10, budgetFrames: 1)
        #expect(granted(machine.reserve(bytes: 10, wait: true, now: Self.start)))
        #expect(granted(machine.reserve(bytes: 10, wait: false, now: Self.start)))
    }

    @Test("a cancelled waiter leaves the line")
    func cancelWaiter() {
        var machine = Self.machine(budgetBytes: 10, budgetFrames: 1)
        #expect(granted(machine.reserve(bytes: 10, wait: true, now: Self.start)))
        guard let id = waitID(machine.reserve(bytes: 10, wait: true, now: Self.start)) else {
            Issue.record("expected a wait")
            return
        }
        _ = machine.park(7, id: id, bytes: 10, now: Self.start)
        #expect(machine.cancelWaiter(id: id) == 7)
        #expect(machine.cancelWaiter(id: id) == nil)
        #expect(machine.written(bytes: 10, now: Self.start).resume.isEmpty)
    }

    // MARK: Closing

    @Test("close: waiters fail, nothing more is accepted, the Close follows the last frame in flight")
    func closeAfterInFlight() {
        var machine = Self.machine(budgetBytes: 10, budgetFrames: 1)
        #expect(granted(machine.reserve(bytes: 10, wait: true, now: Self.start)))
        guard let id = waitID(machine.reserve(bytes: 10, wait: true, now: Self.start)) else {
            Issue.record("expected a wait")
            return
        }
        _ = machine.park(1, id: id, bytes: 10, now: Self.start)
        let closing = machine.close(reason: PaddingtonError(.connectionClosed, "bye"), now: Self.start)
        #expect(closing.fail == [1])
        #expect(closing.failure?.code == .connectionClosed)
        #expect(closing.writeClose == nil)
        if case .refused(let error) = machine.reserve(bytes: 1, wait: true, now: Self.start) {
            #expect(error.code == .connectionClosed)
        } else {
            Issue.record("a closing link accepted a frame")
        }
        let written = machine.written(bytes: 10, now: Self.start)
        #expect(written.writeClose == .normalClosure)
        #expect(written.resume.isEmpty)
        // Only once.
        #expect(machine.close(reason: PaddingtonError(.connectionClosed, "again"), now: Self.start).writeClose == nil)
        #expect(machine.closeReason?.message == "bye")
    }

    @Test("the Close status follows the reason", arguments: [
        (PaddingtonError.Code.shutdown, WebSocketErrorCode.goingAway), (.connectionClosed, .normalClosure),
        (.protocolViolation, .protocolError), (.malformedFrame, .protocolError), (.decryptionFailed, .protocolError),
        (.timeout, .normalClosure),
    ])
    func closeCodes(code: PaddingtonError.Code, expected: WebSocketErrorCode) {
        var machine = Self.machine()
        #expect(machine.close(reason: PaddingtonError(code, "x"), now: Self.start).writeClose == expected)
    }

    @Test("the peer's Close is answered after the frames in flight")
    func peerClose() {
        var machine = Self.machine()
        #expect(granted(machine.reserve(bytes: 5, wait: true, now: Self.start)))
        #expect(machine.peerSentClose(reason: PaddingtonError(.peerShutdown, "going"), now: Self.start).writeClose == nil)
        #expect(machine.peerClosed)
        #expect(machine.written(bytes: 5, now: Self.start).writeClose == .normalClosure)
        #expect(machine.closeReason?.code == .peerShutdown)
    }

    @Test("after our Close, the socket is shut once the peer has been silent for the close timeout")
    func closeWait() {
        var machine = Self.machine(closeTimeout: .seconds(2))
        machine.waiting(now: Self.start)
        #expect(machine.close(reason: PaddingtonError(.connectionClosed, "bye"), now: Self.start).writeClose != nil)
        #expect(machine.nextDeadline == Self.at(2))
        // Frames kept arriving until 1.5 s: at 2 s the peer has been silent only 0.5 s.
        machine.waiting(now: Self.at(1.5))
        #expect(!machine.timerFired(now: Self.at(2)).closeChannel)
        #expect(machine.nextDeadline == Self.at(3.5))
        #expect(machine.timerFired(now: Self.at(3.5)).closeChannel)
        #expect(machine.nextDeadline == nil)
    }

    @Test("while the session is busy with the peer's messages, the close wait goes on")
    func closeWaitWhileBusy() {
        var machine = Self.machine(closeTimeout: .seconds(2))
        machine.messageArrived()
        _ = machine.close(reason: PaddingtonError(.connectionClosed, "bye"), now: Self.start)
        #expect(!machine.timerFired(now: Self.at(2)).closeChannel)
        #expect(!machine.timerFired(now: Self.at(4)).closeChannel)
        machine.waiting(now: Self.at(4))
        machine.messageHandled(now: Self.at(5))
        #expect(!machine.timerFired(now: Self.at(6)).closeChannel)
        #expect(machine.timerFired(now: Self.at(7)).closeChannel)
    }

    @Test("abort closes the channel once and fails waiters; a closed channel fails the rest")
    func abortAndChannelClose() {
        var machine = Self.machine(budgetBytes: 1, budgetFrames: 1)
        #expect(granted(machine.reserve(bytes: 1, wait: true, now: Self.start)))
        guard let id = waitID(machine.reserve(bytes: 1, wait: true, now: Self.start)) else {
            Issue.record("expected a wait")
            return
        }
        _ = machine.park(9, id: id, bytes: 1, now: Self.start)
        let aborted = machine.abort(reason: PaddingtonError(.timeout, "idle"))
        #expect(aborted.closeChannel)
        #expect(aborted.fail == [9])
        #expect(!machine.abort(reason: PaddingtonError(.timeout, "again")).closeChannel)
        // After an abort no Close is written even when the last frame completes.
        #expect(machine.written(bytes: 1, now: Self.start).writeClose == nil)
    }

    @Test("a connection that closes without a Close is lost")
    func lost() {
        var machine = Self.machine()
        _ = machine.channelDidClose()
        #expect(machine.closeReason?.code == .connectionLost)
        #expect(machine.nextDeadline == nil)
    }

    // MARK: Liveness

    @Test("silence past the idle limit aborts the link with a timeout")
    func idle() {
        var machine = Self.machine(idle: .seconds(10), keepalive: .seconds(60))
        machine.waiting(now: Self.start)
        #expect(machine.nextDeadline == Self.at(10))
        #expect(!machine.timerFired(now: Self.at(9.9)).closeChannel)
        let effects = machine.timerFired(now: Self.at(10))
        #expect(effects.closeChannel)
        #expect(machine.closeReason?.code == .timeout)
    }

    @Test("time busy with the peer's messages is not silence; silence counts from the last one handled")
    func busyIsNotSilent() {
        var machine = Self.machine(idle: .seconds(10), keepalive: .seconds(60))
        machine.waiting(now: Self.start)
        machine.messageArrived()
        machine.waiting(now: Self.at(1))
        // A handler runs for 30 s: no idle deadline meanwhile.
        #expect(!machine.timerFired(now: Self.at(20)).closeChannel)
        #expect(machine.silence(at: Self.at(20)) == .zero)
        machine.messageHandled(now: Self.at(31))
        #expect(machine.silence(at: Self.at(35)) == .seconds(4))
        #expect(machine.nextDeadline == Self.at(41))
        #expect(machine.timerFired(now: Self.at(41)).closeChannel)
    }

    @Test("a keepalive is due after the interval without sending, not while closing")
    func keepalive() {
        var machine = Self.machine(idle: .seconds(100), keepalive: .seconds(4))
        machine.waiting(now: Self.start)
        #expect(machine.nextDeadline == Self.at(4))
        #expect(granted(machine.reserve(bytes: 1, wait: true, now: Self.at(3))))
        #expect(!machine.timerFired(now: Self.at(4)).sendKeepalive)
        #expect(machine.nextDeadline == Self.at(7))
        #expect(machine.timerFired(now: Self.at(7)).sendKeepalive)
        _ = machine.written(bytes: 1, now: Self.at(7))
        _ = machine.close(reason: PaddingtonError(.connectionClosed, "bye"), now: Self.at(8))
        machine.waiting(now: Self.at(20))
        #expect(!machine.timerFired(now: Self.at(20)).sendKeepalive)
    }

    // MARK: Before the link is established

    @Test("a step that takes longer than its limit closes the connection and says so")
    func stepTimeout() {
        var machine = Self.machine(step: .seconds(5), established: false)
        #expect(machine.nextDeadline == nil)
        machine.armStep(now: Self.start)
        #expect(machine.nextDeadline == Self.at(5))
        #expect(!machine.timerFired(now: Self.at(4)).closeChannel)
        #expect(machine.timerFired(now: Self.at(5)).closeChannel)
        #expect(machine.stepTimedOut)
    }

    @Test("a disarmed or completed step never fires; liveness starts at establishment")
    func stepDisarmed() {
        var machine = Self.machine(idle: .seconds(10), keepalive: .seconds(60), step: .seconds(5), established: false)
        machine.armStep(now: Self.start)
        machine.disarmStep()
        #expect(machine.nextDeadline == nil)
        machine.armStep(now: Self.start)
        machine.established(now: Self.at(3))
        #expect(machine.nextDeadline == Self.at(13))
        #expect(!machine.timerFired(now: Self.at(5)).closeChannel)
        #expect(!machine.stepTimedOut)
    }
}
