import NIOConcurrencyHelpers

/// A counting semaphore for async code: at most `limit` holders at once, waiters served in order.
package final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID: UInt64 = 0
    }

    private let state: NIOLockedValueBox<State>
    private let limit: Int

    package init(limit: Int) {
        self.limit = max(1, limit)
        state = NIOLockedValueBox(State(available: max(1, limit)))
    }

    /// Slots held now.
    package var inUse: Int { limit - state.withLockedValue { $0.available } }

    /// Waits for a slot. Throws `CancellationError` if the task is cancelled while waiting.
    package func acquire() async throws {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case granted, cancelled, queued }
                // Decided under the lock, and resumed here only when not queued: a queued waiter is
                // resumed by `release()` or by the cancellation handler, never twice.
                let outcome = state.withLockedValue { state -> Outcome in
                    if Task.isCancelled { return .cancelled }
                    if state.available > 0 {
                        state.available -= 1
                        return .granted
                    }
                    state.waiters.append((id, continuation))
                    return .queued
                }
                switch outcome {
                case .granted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: break
                }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Returns a slot.
    package func release() {
        let next = state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
