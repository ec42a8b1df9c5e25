import NIOConcurrencyHelpers
import NIOCore

/// The bounded queue between one link's read loop and the tasks that run its handlers.
///
/// The read loop is the only producer: ``enqueue(_:)`` returns at once while there is room and waits
/// while the queue holds ``Limits/messages`` messages or ``Limits/bytes`` bytes (a message is always
/// let in when the queue is empty). While it waits, the read loop stops reading, so the socket fills and
/// the peer's sends wait: backpressure, never unbounded memory and never a silent drop.
///
/// Delivery tasks exist only while there is something to deliver. ``enqueue(_:)`` says when the
/// producer should start one (fewer than ``Limits/workers`` are running); a delivery task takes
/// messages with ``take(cancelled:)`` in order and ends when the queue is empty. The check for an
/// empty queue and the count of running tasks change under one lock, so a message is never left
/// queued with no task to take it. An idle link therefore holds no task of its own for delivery
/// (1,000 idle peers with `maxPerPeer` 16 would otherwise keep 16,000 tasks waiting).
final class PeerInbox: Sendable {
    struct Limits: Sendable {
        var messages: Int
        var bytes: Int
        /// Delivery tasks at most at once: 1 for ordered delivery, `maxPerPeer` for concurrent.
        var workers: Int = 1
    }

    private struct Producer {
        var id: UInt64
        var message: Message
        var continuation: CheckedContinuation<Bool, any Error>
    }

    private struct State {
        // Small to start with: an idle link holds one of these, and the queue grows when messages come.
        var queue = CircularBuffer<Message>(initialCapacity: 2)
        var queuedBytes = 0
        var finished = false
        /// The read loop, waiting for room for its message.
        var producer: Producer?
        var nextProducerID: UInt64 = 0
        /// Delivery tasks running (started by ``enqueue(_:)``, not yet ended by ``take(cancelled:)``).
        var workers = 0

        func hasRoom(for bytes: Int, limits: Limits) -> Bool {
            queue.isEmpty || (queue.count < limits.messages && queuedBytes + bytes <= limits.bytes)
        }

        /// Queues `message`; true when a delivery task should be started for it.
        mutating func append(_ message: Message, limits: Limits) -> Bool {
            queue.append(message)
            queuedBytes += message.content.count
            // Another task while under the limit (ordered: only when none runs). One that finds the queue
            // already emptied by the others just ends.
            guard workers < limits.workers else { return false }
            workers += 1
            return true
        }

        /// Takes the first message, and lets a waiting producer's message in if there is now room.
        mutating func take(limits: Limits) -> (Message, CheckedContinuation<Bool, any Error>?)? {
            guard let message = queue.popFirst() else { return nil }
            queuedBytes -= message.content.count
            guard let producer, hasRoom(for: producer.message.content.count, limits: limits) else { return (message, nil) }
            self.producer = nil
            // A delivery task is running (this one), so none is started for the admitted message.
            queue.append(producer.message)
            queuedBytes += producer.message.content.count
            return (message, producer.continuation)
        }
    }

    private enum Offer {
        case queued(startWorker: Bool)
        case wait(id: UInt64)
        case finished
    }

    private let state = NIOLockedValueBox(State())
    let limits: Limits

    init(limits: Limits) {
        self.limits = Limits(messages: max(1, limits.messages), bytes: max(1, limits.bytes), workers: max(1, limits.workers))
    }

    /// Messages queued and not yet taken.
    var count: Int { state.withLockedValue { $0.queue.count } }

    /// Delivery tasks running.
    var workers: Int { state.withLockedValue { $0.workers } }

    /// Queues a message, waiting while the queue is full.
    ///
    /// - Returns: true when the caller must start a delivery task (one that calls ``take(cancelled:)``
    ///   until it returns nil); it has been counted as running already.
    /// - Throws: `CancellationError` when the read loop's task is cancelled while it waits; the message
    ///   is then not queued.
    func enqueue(_ message: Message) async throws -> Bool {
        let offer = state.withLockedValue { state -> Offer in
            if state.finished { return .finished }
            if state.producer == nil, state.hasRoom(for: message.content.count, limits: limits) {
                return .queued(startWorker: state.append(message, limits: limits))
            }
            state.nextProducerID += 1
            return .wait(id: state.nextProducerID)
        }
        switch offer {
        case .queued(let startWorker):
            return startWorker
        case .finished:
            return false
        case .wait(let id):
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                    let admitted = state.withLockedValue { state -> Bool?? in
                        if Task.isCancelled { return nil }
                        // Room may have been made since the first look (the queue may even be empty).
                        if state.hasRoom(for: message.content.count, limits: limits) {
                            return .some(state.append(message, limits: limits))
                        }
                        state.producer = Producer(id: id, message: message, continuation: continuation)
                        return .some(nil)
                    }
                    switch admitted {
                    case .none: continuation.resume(throwing: CancellationError())
                    case .some(.some(let startWorker)): continuation.resume(returning: startWorker)
                    case .some(.none): break
                    }
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

    /// The next message, in order, for a delivery task; nil when the queue is empty (or `cancelled`),
    /// and the task must then end: it is no longer counted as running.
    func take(cancelled: Bool = false) -> Message? {
        let taken = state.withLockedValue { state -> (Message, CheckedContinuation<Bool, any Error>?)? in
            if !cancelled, let taken = state.take(limits: limits) { return taken }
            state.workers -= 1
            return nil
        }
        // The admitted producer's message needs no new task: this one is running.
        taken?.1?.resume(returning: false)
        return taken?.0
    }

    /// No more messages will be queued; running delivery tasks drain what is queued, then end.
    func finish() {
        state.withLockedValue { $0.finished = true }
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
