import NIOConcurrencyHelpers

/// Who is connected: one established link per `name@zone`, the handshakes that hold a claim on a
/// `name@zone`, the connections waiting as standby, and the internal observers of links going up and
/// down. All state sits behind one lock; nothing here is global, so any number of meshes can live in
/// one process.
final class LinkRegistry: Sendable {
    private enum Slot {
        /// A handshake has been told "primary" and is finishing.
        case claimed(token: UInt64)
        case connected(Link)
    }

    private struct State {
        var slots: [PeerID: Slot] = [:]
        var standby: [PeerID: Int] = [:]
        var nextToken: UInt64 = 0
        var shuttingDown = false
        var emptyWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var linkWaiters: [UInt64: (peer: PeerID, continuation: CheckedContinuation<PeerInfo, any Error>)] = [:]
        var observers: [any LinkObserver] = []
        /// The client that last authenticated from each address (bounded; cleared when full).
        var lastClient: [IPAddress: PeerID] = [:]

        var hasLinks: Bool {
            slots.values.contains { if case .connected = $0 { return true } else { return false } }
        }

        mutating func token() -> UInt64 {
            nextToken += 1
            return nextToken
        }
    }

    static let lastClientCapacity = 65_536

    private let state = NIOLockedValueBox(State())

    // MARK: Links

    func link(for peer: PeerID) -> Link? {
        state.withLockedValue { state in
            if case .connected(let link) = state.slots[peer] { return link }
            return nil
        }
    }

    var links: [Link] {
        state.withLockedValue { state in
            state.slots.values.compactMap { slot -> Link? in
                if case .connected(let link) = slot { return link }
                return nil
            }
        }
    }

    var connectedPeers: [PeerInfo] { links.map(\.info) }

    /// Registers an established link and tells the observers. Fails when `name@zone` is already held
    /// by another link (or claimed by a handshake other than `claim`), or the mesh is shutting down.
    func register(_ link: Link, claim: UInt64?) throws {
        let (observers, waiters) = try state.withLockedValue { state -> ([any LinkObserver], [CheckedContinuation<PeerInfo, any Error>]) in
            if state.shuttingDown { throw PaddingtonError(.shutdown, "the mesh is shutting down") }
            switch state.slots[link.id] {
            case nil:
                break
            case .claimed(let token)? where token == claim:
                break
            default:
                throw PaddingtonError(.tooManyConnections, "\(link.id) is already connected; one link per name@zone")
            }
            state.slots[link.id] = .connected(link)
            let matching = state.linkWaiters.filter { $0.value.peer == link.id }
            for key in matching.keys { state.linkWaiters[key] = nil }
            return (state.observers, matching.values.map(\.continuation))
        }
        for observer in observers { observer.linkUp(link.info) }
        for waiter in waiters { waiter.resume(returning: link.info) }
    }

    /// Removes a link that ended and tells the observers why.
    func unregister(_ link: Link, reason: PaddingtonError) {
        let (removed, observers, emptyWaiters) = state.withLockedValue { state -> (Bool, [any LinkObserver], [CheckedContinuation<Void, Never>]) in
            guard case .connected(let held)? = state.slots[link.id], held === link else { return (false, [], []) }
            state.slots[link.id] = nil
            guard !state.hasLinks else { return (true, state.observers, []) }
            defer { state.emptyWaiters = [:] }
            return (true, state.observers, Array(state.emptyWaiters.values))
        }
        if removed {
            for observer in observers { observer.linkDown(link.id, reason: reason) }
        }
        for waiter in emptyWaiters { waiter.resume() }
    }

    /// Adds an observer of links going up and down. Observers are called in the order they were added,
    /// synchronously, for every link; they never miss one (unlike the public, bounded event stream).
    func addObserver(_ observer: any LinkObserver) {
        state.withLockedValue { $0.observers.append(observer) }
    }

    /// Returns the peer's details once a link to it is established (at once if it is).
    ///
    /// - Throws: `CancellationError` when the task is cancelled, `PaddingtonError.Code.shutdown`
    ///   when the mesh shuts down first.
    func waitForLink(_ peer: PeerID) async throws -> PeerInfo {
        let id = state.withLockedValue { $0.token() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PeerInfo, any Error>) in
                let immediate: Result<PeerInfo, any Error>? = state.withLockedValue { state in
                    if case .connected(let link) = state.slots[peer] { return .success(link.info) }
                    if state.shuttingDown { return .failure(PaddingtonError(.shutdown, "the mesh is shutting down")) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.linkWaiters[id] = (peer, continuation)
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            state.withLockedValue { $0.linkWaiters.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    // MARK: Standby (server side)

    /// May a new connection for `peer` become primary? A "primary" answer claims the slot until
    /// ``register(_:claim:)`` or ``releaseClaim(_:token:)``.
    func decideStandby(_ peer: PeerID, maxStandby: Int, isRetry: Bool) -> (status: WireMessage.Standby, claim: UInt64?, refused: Bool) {
        state.withLockedValue { state in
            if state.shuttingDown { return (.secondaryServer, nil, false) }
            if state.slots[peer] == nil {
                let token = state.token()
                state.slots[peer] = .claimed(token: token)
                if isRetry { state.standby[peer, default: 1] -= 1 }
                return (.primary, token, false)
            }
            if !isRetry {
                let waiting = state.standby[peer, default: 0]
                guard waiting < maxStandby else { return (.secondaryServer, nil, true) }
                state.standby[peer] = waiting + 1
            }
            return (.secondaryClient, nil, false)
        }
    }

    /// A standby connection went away without becoming primary.
    func leaveStandby(_ peer: PeerID) {
        state.withLockedValue { state in
            let count = state.standby[peer, default: 0] - 1
            state.standby[peer] = count > 0 ? count : nil
        }
    }

    func releaseClaim(_ peer: PeerID, token: UInt64) {
        state.withLockedValue { state in
            if case .claimed(let held)? = state.slots[peer], held == token { state.slots[peer] = nil }
        }
    }

    // MARK: Remembered clients

    func lastClient(from address: IPAddress) -> PeerID? {
        state.withLockedValue { $0.lastClient[address] }
    }

    func authenticated(_ peer: PeerID, from address: IPAddress) {
        state.withLockedValue { state in
            if state.lastClient.count >= Self.lastClientCapacity { state.lastClient.removeAll() }
            state.lastClient[address] = peer
        }
    }

    // MARK: Shutdown

    var isShuttingDown: Bool { state.withLockedValue { $0.shuttingDown } }

    /// Marks the registry as closing, fails the waits for links, and returns the links to close.
    func beginShutdown() -> [Link] {
        let (links, waiters) = state.withLockedValue { state -> ([Link], [CheckedContinuation<PeerInfo, any Error>]) in
            state.shuttingDown = true
            let waiters = state.linkWaiters.values.map(\.continuation)
            state.linkWaiters = [:]
            let links = state.slots.values.compactMap { slot -> Link? in
                if case .connected(let link) = slot { return link }
                return nil
            }
            return (links, waiters)
        }
        for waiter in waiters { waiter.resume(throwing: PaddingtonError(.shutdown, "the mesh is shutting down")) }
        return links
    }

    /// Returns when no link is registered, or when the task is cancelled (shutdown races it against
    /// its timeout).
    func waitUntilNoLinks() async {
        let id = state.withLockedValue { $0.token() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if Task.isCancelled || !state.hasLinks { return true }
                    state.emptyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.emptyWaiters.removeValue(forKey: id) }?.resume()
        }
    }
}
