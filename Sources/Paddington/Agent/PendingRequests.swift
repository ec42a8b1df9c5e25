import NIOConcurrencyHelpers
import NIOCore

/// The requests this mesh has in flight, by id: each waits on a ``OneShot`` that its reply, its
/// deadline, its caller's cancellation or the end of its link completes, whichever comes first (the
/// one that takes the entry out of the table).
final class PendingRequests: Sendable {
    typealias Outcome = OneShot<Result<Reply, PaddingtonError>>

    private struct Entry {
        var link: Link
        var outcome: Outcome
        var timeout: Duration
        /// Whether the request frame was handed to the link (so a cancel means something to the peer).
        var sent = false
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var inFlight: [ObjectIdentifier: Int] = [:]
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())
    /// One timer for every request's deadline.
    private let deadlines: DeadlineScheduler<UInt64>

    /// - Parameter cancelRemote: tells a peer to stop a request that reached it.
    init(eventLoop: any EventLoop, cancelRemote: @escaping @Sendable (UInt64, Link) -> Void) {
        let state = self.state
        deadlines = DeadlineScheduler(eventLoop: eventLoop) { ids in
            for id in ids {
                let ended = state.withLockedValue { state -> Entry? in
                    guard let entry = state.entries.removeValue(forKey: id) else { return nil }
                    Self.release(ObjectIdentifier(entry.link), in: &state)
                    return entry
                }
                guard let entry = ended else { continue }
                entry.outcome.complete(.failure(PaddingtonError(.deadlineExceeded, entry.sent
                    ? "\(entry.link.id) did not answer within \(entry.timeout); the handler may or may not have run, and was told to stop"
                    : "the timeout of \(entry.timeout) passed before the request to \(entry.link.id) could be sent; nothing was sent")))
                if entry.sent { cancelRemote(id, entry.link) }
            }
        }
    }

    /// Opens a request on `link`: its id and outcome. At `deadline` it fails with
    /// `PaddingtonError.Code.deadlineExceeded` (and the peer is told to stop it, when it was sent).
    ///
    /// - Throws: `PaddingtonError.Code.tooManyRequests` when `limit` requests are in flight on the link.
    func open(on link: Link, limit: Int, timeout: Duration, deadline: NIODeadline) throws -> (id: UInt64, outcome: Outcome) {
        let key = ObjectIdentifier(link)
        let outcome = Outcome()
        let id = try state.withLockedValue { state -> UInt64 in
            let count = state.inFlight[key, default: 0]
            guard count < limit else {
                throw PaddingtonError(.tooManyRequests, "\(limit) requests to \(link.id) are in flight already (maxRequestsInFlightPerPeer)")
            }
            state.nextID &+= 1
            if state.nextID == 0 { state.nextID = 1 }
            state.inFlight[key] = count + 1
            state.entries[state.nextID] = Entry(link: link, outcome: outcome, timeout: timeout)
            return state.nextID
        }
        deadlines.add(id, deadline: deadline)
        return (id, outcome)
    }

    /// Ends request `id` with `result`, when it is still in flight (and, for a peer's answer, on the link
    /// it came from).
    ///
    /// - Returns: nil when it was not in flight; otherwise whether its frame had been sent.
    @discardableResult
    func finish(_ id: UInt64, on link: Link? = nil, with result: Result<Reply, PaddingtonError>) -> Bool? {
        let ended = state.withLockedValue { state -> (Outcome, Bool)? in
            guard let entry = state.entries[id] else { return nil }
            if let link, entry.link !== link { return nil }
            state.entries[id] = nil
            Self.release(ObjectIdentifier(entry.link), in: &state)
            return (entry.outcome, entry.sent)
        }
        guard let (outcome, sent) = ended else { return nil }
        deadlines.remove(id)
        outcome.complete(result)
        return sent
    }

    /// Marks request `id` as sent; false when it has ended already (then it must not be sent).
    func markSent(_ id: UInt64) -> Bool {
        state.withLockedValue { state in
            guard state.entries[id] != nil else { return false }
            state.entries[id]?.sent = true
            return true
        }
    }

    /// Undoes ``markSent(_:)`` when the frame could not go at once after all.
    func unmarkSent(_ id: UInt64) {
        state.withLockedValue { $0.entries[id]?.sent = false }
    }

    /// Fails every request in flight on `link`: it ended.
    func linkEnded(_ link: Link, reason: PaddingtonError) {
        let key = ObjectIdentifier(link)
        let ended = state.withLockedValue { state -> [(UInt64, Outcome)] in
            let ids = state.entries.filter { $0.value.link === link }.map(\.key)
            state.inFlight[key] = nil
            return ids.compactMap { id in state.entries.removeValue(forKey: id).map { (id, $0.outcome) } }
        }
        guard !ended.isEmpty else { return }
        for (id, _) in ended { deadlines.remove(id) }
        let error = PaddingtonError(.linkLost,
            "the link to \(link.id) ended while the request was in flight (\(reason.code): \(reason.message)); the handler may or may not have run")
        for (_, outcome) in ended { outcome.complete(.failure(error)) }
    }

    /// Requests in flight on all links.
    var count: Int { state.withLockedValue { $0.entries.count } }

    private static func release(_ link: ObjectIdentifier, in state: inout State) {
        let left = state.inFlight[link, default: 1] - 1
        state.inFlight[link] = left > 0 ? left : nil
    }
}
