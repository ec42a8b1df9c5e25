import NIOConcurrencyHelpers

/// The public events of one mesh, fanned out to any number of subscribers. Each subscriber has its own
/// bounded buffer (the newest events are kept when it falls behind), so a slow reader loses its own
/// events, never another's. Every stream finishes when the mesh stops.
final class EventHub: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<MeshEvent>.Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let state = NIOLockedValueBox(State())
    private let bufferSize: Int

    init(bufferSize: Int) {
        self.bufferSize = bufferSize
    }

    /// A new stream that receives every event from now on.
    func subscribe() -> AsyncStream<MeshEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: MeshEvent.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let id = state.withLockedValue { state -> UInt64? in
            if state.finished { return nil }
            state.nextID += 1
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLockedValue { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: MeshEvent) {
        let subscribers = state.withLockedValue { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield(event) }
    }

    /// Ends every stream; later subscriptions end at once.
    func finish() {
        let subscribers = state.withLockedValue { state -> [AsyncStream<MeshEvent>.Continuation] in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
