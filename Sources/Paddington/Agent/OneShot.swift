import NIOConcurrencyHelpers

/// A value that arrives once, for one waiter: the first ``complete(_:)`` wins and later ones are
/// ignored, so a reply, a deadline, a cancellation and a dropped link can race to end a request.
final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<Value, Never>?)
        case done(Value)
    }

    private let state = NIOLockedValueBox(State.waiting(nil))

    /// Sets the value; true when this call was the first.
    @discardableResult
    func complete(_ value: Value) -> Bool {
        let continuation = state.withLockedValue { state -> CheckedContinuation<Value, Never>?? in
            guard case .waiting(let continuation) = state else { return .none }
            state = .done(value)
            return .some(continuation)
        }
        guard case .some(let waiter) = continuation else { return false }
        waiter?.resume(returning: value)
        return true
    }

    /// Waits for the value. When the task is cancelled, `onCancel` runs (it should complete this).
    func wait(onCancel: @escaping @Sendable () -> Void) async -> Value {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
                let value = state.withLockedValue { state -> Value? in
                    switch state {
                    case .done(let value): return value
                    case .waiting: state = .waiting(continuation); return nil
                    }
                }
                if let value { continuation.resume(returning: value) }
            }
        } onCancel: {
            onCancel()
        }
    }
}
