import NIOConcurrencyHelpers

/// Counts events and lets one task wait until a target is reached.
package final class Latch: Sendable {
    private let state = NIOLockedValueBox<(count: Int, target: Int, waiter: CheckedContinuation<Void, Never>?)>((0, .max, nil))

    package init() {}

    /// Starts counting again from zero towards `target`.
    package func reset(target: Int) { state.withLockedValue { $0 = (0, target, nil) } }

    package func increment() {
        let waiter = state.withLockedValue { value -> CheckedContinuation<Void, Never>? in
            value.count += 1
            guard value.count >= value.target, let waiter = value.waiter else { return nil }
            value.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    package var count: Int { state.withLockedValue { $0.count } }

    /// Waits until the count reaches the target.
    package func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { value -> Bool in
                if value.count >= value.target { return true }
                value.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
