import NIOConcurrencyHelpers

/// The request handlers running for one link, by request id: so that a cancel frame, the deadline or
/// the end of the link can cancel them, and so that the per-peer limit holds.
final class RunningRequests: Sendable {
    private struct State {
        var tasks: [UInt64: Task<Void, Never>] = [:]
        /// Ids taken by ``reserve(_:limit:)`` whose task is not registered yet.
        var reserved: Set<UInt64> = []
        /// Reserved ids cancelled before their task was registered.
        var cancelledEarly: Set<UInt64> = []
        var closed = false
    }

    enum Reservation {
        case granted
        case duplicate
        case overloaded
        case closed
    }

    private let state = NIOLockedValueBox(State())

    /// Takes a slot for request `id`.
    func reserve(_ id: UInt64, limit: Int) -> Reservation {
        state.withLockedValue { state in
            if state.closed { return .closed }
            if state.tasks[id] != nil || state.reserved.contains(id) { return .duplicate }
            if state.tasks.count + state.reserved.count >= limit { return .overloaded }
            state.reserved.insert(id)
            return .granted
        }
    }

    /// Registers the task of a reserved request; cancels it at once when the link has ended meanwhile.
    func register(_ id: UInt64, _ task: Task<Void, Never>) {
        let cancel = state.withLockedValue { state -> Bool in
            state.reserved.remove(id)
            if state.closed || state.cancelledEarly.remove(id) != nil { return true }
            state.tasks[id] = task
            return false
        }
        if cancel { task.cancel() }
    }

    /// The request ended.
    func remove(_ id: UInt64) {
        state.withLockedValue { state in
            state.tasks[id] = nil
            state.cancelledEarly.remove(id)
        }
    }

    /// The caller cancelled request `id`. Returns whether it was running.
    @discardableResult
    func cancel(_ id: UInt64) -> Bool {
        let task = state.withLockedValue { state -> Task<Void, Never>? in
            if state.tasks[id] == nil, state.reserved.contains(id) { state.cancelledEarly.insert(id) }
            return state.tasks[id]
        }
        task?.cancel()
        return task != nil
    }

    /// The link ended: cancels every handler, and refuses new ones.
    func cancelAll() {
        let tasks = state.withLockedValue { state -> [Task<Void, Never>] in
            state.closed = true
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }
}
