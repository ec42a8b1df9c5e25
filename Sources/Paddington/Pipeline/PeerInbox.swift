import NIOConcurrencyHelpers
import NIOCore

/// The bounded queue between one link's read loop and the tasks that run its handlers.
///
/// The read loop is the only producer: ``enqueue(_:)`` returns at once while there is room and waits
/// while the queue holds ``Limits/messages`` messages or ``Limits/bytes`` bytes (a message is always
/// let in when the queue is empty). While it waits, the read loop stops reading, so the socket fills and
/// the peer's sends wait: backpressure, never unbounded memory and never a silent drop. Delivery tasks
/// take messages with ``next()`` in order; after ``finish()`` they drain what was queued, then get nil.
final class PeerInbox: Sendable {
    struct Limits: Sendable {
        var messages: Int
        var bytes: Int
    }

    private typealias Consumer = CheckedContinuation<Message?, Never>

    private struct Producer {
        var id: UInt64
        var message: Message
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        // Small to start with: an idle link holds one of these, and the queue grows when messages come.
        var queue = CircularBuffer<Message>(initialCapacity: 2)
        var queuedBytes = 0
        var finished = false
        /// The read loop, waiting for room for its message.
        var producer: Producer?
        var nextProducerID: UInt64 = 0
        /// Delivery tasks waiting for a message (only while the queue is empty).
        var consumers = CircularBuffer<Consumer>(initialCapacity: 1)

        func hasRoom(for bytes: Int, limits: Limits) -> Bool {
            queue.isEmpty || (queue.count < limits.messages && queuedBytes + bytes <= limits.bytes)
        }

        mutating func append(_ message: Message) {
            queue.append(message)
            queuedBytes += message.content.count
        }

        /// Takes the first message, and lets a waiting producer's message in if there is now room.
        mutating func take(limits: Limits) -> (Message, CheckedContinuation<Void, any Error>?)? {
            guard let message = queue.popFirst() else { return nil }
            queuedBytes -= message.content.count
            guard let producer, hasRoom(for: producer.message.content.count, limits: limits) else { return (message, nil) }
            self.producer = nil
            append(producer.message)
            return (message, producer.continuation)
        }
    }

    private enum Offer {
        case handed(Consumer)
        case queued
        case wait(id: UInt64)
        case finished
    }

    private let state = NIOLockedValueBox(State())
    let limits: Limits

    init(limits: Limits) {
        self.limits = Limits(messages: max(1, limits.messages), bytes: max(1, limits.bytes))
    }

    /// Messages queued and not yet taken.
    var count: Int { state.withLockedValue { $0.queue.count } }

    /// Queues a message, waiting while the queue is full.
    ///
    /// - Throws: `CancellationError` when the read loop's task is cancelled while it waits; the message
    ///   is then not queued.
    func enqueue(_ message: Message) async throws {
        let offer = state.withLockedValue { state -> Offer in
            if state.finished { return .finished }
            if state.queue.isEmpty, let consumer = state.consumers.popFirst() { return .handed(consumer) }
            if state.producer == nil, state.hasRoom(for: message.content.count, limits: limits) {
                state.append(message)
                return .queued
            }
            state.nextProducerID += 1
            return .wait(id: state.nextProducerID)
        }
        switch offer {
        case .handed(let consumer):
            consumer.resume(returning: message)
        case .queued, .finished:
            return
        case .wait(let id):
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let admitted = state.withLockedValue { state -> (admitted: Bool, consumer: Consumer?)? in
                        if Task.isCancelled { return nil }
                        // Room may have been made since the first look (the queue may even be empty,
                        // with delivery tasks waiting).
                        if state.queue.isEmpty, let consumer = state.consumers.popFirst() { return (true, consumer) }
                        if state.hasRoom(for: message.content.count, limits: limits) {
                            state.append(message)
                            return (true, nil)
                        }
                        state.producer = Producer(id: id, message: message, continuation: continuation)
                        return (false, nil)
                    }
                    guard let admitted else {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    admitted.consumer?.resume(returning: message)
                    if admitted.admitted { continuation.resume() }
                }
            } onCancel: {
                let producer = state.withLockedValue { state -> Producer? in
                    guard let producer = state.producer, producer.id == id else { return nil }
                    state.producer = nil
                    return producer
                }
                producer?.continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// The next message, in order; nil once ``finish()`` was called and the queue is empty.
    func next() async -> Message? {
        await withCheckedContinuation { (continuation: Consumer) in
            let taken = state.withLockedValue { state -> (Message, CheckedContinuation<Void, any Error>?)?? in
                if let taken = state.take(limits: limits) { return .some(taken) }
                if state.finished { return .some(nil) }
                state.consumers.append(continuation)
                return nil
            }
            guard let taken else { return }
            continuation.resume(returning: taken?.0)
            taken?.1?.resume()
        }
    }

    /// No more messages will be queued: delivery tasks drain the queue, then get nil.
    func finish() {
        let consumers = state.withLockedValue { state -> [Consumer] in
            state.finished = true
            defer { state.consumers.removeAll() }
            return Array(state.consumers)
        }
        for consumer in consumers { consumer.resume(returning: nil) }
    }

    /// Empties the queue (shutdown gave up waiting); returns how many messages were dropped.
    func discardAll() -> Int {
        let (count, producer) = state.withLockedValue { state -> (Int, Producer?) in
            let count = state.queue.count + (state.producer == nil ? 0 : 1)
            state.queue.removeAll()
            state.queuedBytes = 0
            defer { state.producer = nil }
            return (count, state.producer)
        }
        producer?.continuation.resume(throwing: CancellationError())
        return count
    }
}
