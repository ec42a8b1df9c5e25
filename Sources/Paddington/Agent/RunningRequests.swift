import NIOConcurrencyHelpers
import NIOCore

/// The request handlers running for one link, by request id: so that a cancel frame, the deadline or
/// the end of the link can cancel them, and so that the per-peer limit holds. Also counts the refusals
/// on their way to the peer, so that a peer cannot make them pile up.
final class RunningRequests: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var refusals = 0
        var closed = false
    }

    enum Start {
        case started
        case duplicate
        case overloaded
        case closed
    }

    /// Refusals (errors for requests that did not run) that may be on their way at once; more are
    /// dropped, and their callers reach their deadlines.
    static let maxRefusalsInFlight = 64

    private let state = NIOLockedValueBox(State())
    /// One timer for the deadlines of all the link's handlers: a handler is cancelled at its deadline.
    private let deadlines: DeadlineScheduler<UInt64>

    init(eventLoop: any EventLoop) {
        let state = self.state
        deadlines = DeadlineScheduler(eventLoop: eventLoop) { ids in
            let tasks = state.withLockedValue { state in ids.compactMap { state.tasks[$0] } }
            for task in tasks { task.cancel() }
        }
    }

    /// Starts the handler of request `id`, unless one with that id runs, `limit` run, or the link ended.
    /// The task is made under the lock, so it is registered before its own end can remove it; it is
    /// cancelled at `deadline`.
    func start(_ id: UInt64, limit: Int, deadline: NIODeadline, _ body: @escaping @Sendable () async -> Void) -> Start {
        let started = state.withLockedValue { state -> Start in
            if state.closed { return .closed }
            if state.tasks[id] != nil { return .duplicate }
            if state.tasks.count >= limit { return .overloaded }
            state.tasks[id] = Task { await body() }
            return .started
        }
        if started == .started { deadlines.add(id, deadline: deadline) }
        return started
    }

    /// The request ended.
    func remove(_ id: UInt64) {
        state.withLockedValue { _ = $0.tasks.removeValue(forKey: id) }
        deadlines.remove(id)
    }

    /// Running handlers.
    var count: Int { state.withLockedValue { $0.tasks.count } }

    /// The caller cancelled request `id`. Returns whether it was running.
    @discardableResult
    func cancel(_ id: UInt64) -> Bool {
        let task = state.withLockedValue { $0.tasks[id] }
        task?.cancel()
        return task != nil
    }

    /// Takes a slot for a refusal; false when too many are on their way.
    func startRefusal() -> Bool {
        state.withLockedValue { state in
            guard !state.closed, state.refusals < Self.maxRefusalsInFlight else { return false }
            state.refusals += 1
            return true
        }
    }

    func refusalSent() {
        state.withLockedValue { $0.refusals -= 1 }
    }

    /// The link ended: cancels every handler, and refuses new ones.
    func cancelAll() {
        let tasks = state.withLockedValue { state -> [Task<Void, Never>] in
            state.closed = true
            return Array(state.tasks.values)
        }
        deadlines.removeAll()
        for task in tasks { task.cancel() }
    }
}
