import Logging
import NIOConcurrencyHelpers

/// What happens to a received payload once the link's codec has opened it. The stages, in order:
///
/// 1. **Link-internal frames** (keepalives, protocol control) stay in the codec and the link; they never
///    get here.
/// 2. **Taps** (``InboundTap``, package API): on the read loop, before the queue. Replies to pending
///    requests are taken here.
/// 3. The message waits in the link's bounded ``PeerInbox``; a full queue stops the read loop.
/// 4. **Interceptors** (``InboundInterceptor``), on a delivery task, under the global handler cap.
/// 5. **The handler lookup**: the most specific handler registered with ``Mesh/onMessage(from:zone:_:)``,
///    or, when there is none, the message is counted as unhandled and reported once per peer.
final class InboundPipeline: Sendable {
    private let taps = NIOLockedValueBox<[any InboundTap]>([])
    private let interceptors: [any InboundInterceptor]
    let handlers: HandlerTable
    let handlerSlots: AsyncSemaphore
    private let statistics: StatisticsRecorder

    init(interceptors: [any InboundInterceptor], maxConcurrentHandlers: Int, statistics: StatisticsRecorder) {
        self.interceptors = interceptors
        handlers = HandlerTable()
        handlerSlots = AsyncSemaphore(limit: maxConcurrentHandlers)
        self.statistics = statistics
    }

    func addTap(_ tap: any InboundTap) {
        taps.withLockedValue { $0.append(tap) }
    }

    /// Stage 2, on the read loop: true when a tap took the message.
    func tap(_ message: Message, from peer: PeerInfo) -> Bool {
        let taps = self.taps.withLockedValue { $0 }
        for tap in taps where tap.take(message, from: peer) { return true }
        return false
    }

    /// Stages 4 and 5, on a delivery task. Never throws: a handler's failure is logged, and a handler
    /// cancelled at shutdown is noted at debug level.
    func deliver(_ message: Message, context: MessageContext) async {
        do {
            try await handlerSlots.acquire()
        } catch {
            context.logger.debug("message not delivered: the mesh is shutting down")
            return
        }
        defer { handlerSlots.release() }
        do {
            try await intercept(from: 0, message, context)
        } catch {
            if error is CancellationError || Task.isCancelled {
                context.logger.debug("message handler cancelled", metadata: ["error": "\(error)"])
            } else {
                context.logger.error("message handler failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func intercept(from index: Int, _ message: Message, _ context: MessageContext) async throws {
        guard index < interceptors.count else {
            try await dispatch(message, context)
            return
        }
        try await interceptors[index].intercept(message, context: context) { message, context in
            try await self.intercept(from: index + 1, message, context)
        }
    }

    private func dispatch(_ message: Message, _ context: MessageContext) async throws {
        guard let handler = handlers.handler(for: message.peer) else {
            statistics.messageUnhandled()
            if handlers.firstUnhandled(from: message.peer) {
                context.logger.notice("no handler for messages from this peer; they are dropped and counted (statistics.unhandledMessages)")
            } else {
                context.logger.debug("no handler for message")
            }
            return
        }
        try await handler(message, context)
    }
}
