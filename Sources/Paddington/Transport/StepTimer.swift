import NIOCore
import NIOConcurrencyHelpers

/// Closes a channel when a step of the connection takes too long.
///
/// The async code arms it before it waits (for the upgrade, or for a handshake frame) and disarms it
/// after. When it fires, the channel closes, the pending read ends, and ``fired`` tells the code that
/// the cause was a timeout rather than the peer.
final class StepTimer: Sendable {
    private let channel: any Channel
    private let state = NIOLockedValueBox<(task: Scheduled<Void>?, fired: Bool)>((nil, false))

    init(channel: any Channel) {
        self.channel = channel
    }

    var fired: Bool { state.withLockedValue { $0.fired } }

    func arm(_ timeout: Duration) {
        let channel = self.channel
        let task = channel.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [state] in
            state.withLockedValue { $0.fired = true }
            channel.close(promise: nil)
        }
        let previous = state.withLockedValue { value -> Scheduled<Void>? in
            let previous = value.task
            value.task = task
            return previous
        }
        previous?.cancel()
    }

    func disarm() {
        let task = state.withLockedValue { value -> Scheduled<Void>? in
            let task = value.task
            value.task = nil
            return task
        }
        task?.cancel()
    }
}

extension Duration {
    /// Whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }
}
