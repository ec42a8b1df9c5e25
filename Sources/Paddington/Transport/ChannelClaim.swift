import NIOConcurrencyHelpers
import NIOCore

/// An async channel an event loop made, waiting for the task that will run it.
///
/// NIO requires every `NIOAsyncChannel` made with `init(wrappingChannelSynchronously:)` to end in
/// `executeThenClose` (or with its writer finished): one that is simply dropped stops the process with
/// "Deinited NIOAsyncWriter without calling finish()". An accepted connection can be dropped without
/// anyone deciding to: an accept loop cancelled at shutdown drops the connections its stream still
/// buffers, and an upgrade can complete for a task that has gone. Handing the channel over in a claim
/// makes that safe: ``take()`` gives it to exactly one taker, and a claim released untaken closes its
/// channel.
package final class ChannelClaim<Inbound: Sendable, Outbound: Sendable>: Sendable {
    private let channel: NIOLockedValueBox<NIOAsyncChannel<Inbound, Outbound>?>

    package init(_ channel: NIOAsyncChannel<Inbound, Outbound>) {
        self.channel = NIOLockedValueBox(channel)
    }

    /// The channel, the first time only; the taker must run it to its end with `executeThenClose`.
    package func take() -> NIOAsyncChannel<Inbound, Outbound>? {
        channel.withLockedValue { value in
            defer { value = nil }
            return value
        }
    }

    deinit {
        guard let untaken = channel.withLockedValue({ $0 }) else { return }
        // Nobody will run it: end it as NIO requires, which also closes the connection.
        Task { try? await untaken.executeThenClose { _, _ in } }
    }
}
