import NIOConcurrencyHelpers
import NIOCore

/// Deadlines of many requests with one timer on an event loop: the timer is moved only when a new
/// deadline is earlier than the one it waits for (with one timeout for all requests, once per timeout),
/// so a request costs no timer of its own. At a deadline, `expire` gets the keys that are due.
final class DeadlineScheduler<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var queue = DeadlineQueue<Key>()
        var timer: (deadline: NIODeadline, task: Scheduled<Void>)?
    }

    private let state = NIOLockedValueBox(State())
    private let eventLoop: any EventLoop
    private let expire: @Sendable ([Key]) -> Void

    init(eventLoop: any EventLoop, expire: @escaping @Sendable ([Key]) -> Void) {
        self.eventLoop = eventLoop
        self.expire = expire
    }

    /// Sets `key`'s deadline.
    func add(_ key: Key, deadline: NIODeadline) {
        state.withLockedValue { state in
            state.queue.insert(key, deadline: deadline)
            if let timer = state.timer, timer.deadline <= deadline { return }
            state.timer?.task.cancel()
            state.timer = (deadline, schedule(at: deadline))
        }
    }

    /// Removes `key`'s deadline (the timer stays; it finds nothing due and moves on).
    func remove(_ key: Key) {
        state.withLockedValue { $0.queue.remove(key) }
    }

    /// Removes every deadline and stops the timer.
    func removeAll() {
        state.withLockedValue { state in
            state.queue.removeAll()
            state.timer?.task.cancel()
            state.timer = nil
        }
    }

    /// Deadlines set.
    var count: Int { state.withLockedValue { $0.queue.count } }

    private func schedule(at deadline: NIODeadline) -> Scheduled<Void> {
        eventLoop.scheduleTask(deadline: deadline) { [weak self] in self?.fire() }
    }

    private func fire() {
        let due = state.withLockedValue { state -> [Key] in
            let due = state.queue.popExpired(now: .now())
            // The timer that runs this is done; one an `add` set meanwhile is replaced, so one stays.
            state.timer?.task.cancel()
            if let next = state.queue.earliest() {
                state.timer = (next, schedule(at: next))
            } else {
                state.timer = nil
            }
            return due
        }
        if !due.isEmpty { expire(due) }
    }
}
