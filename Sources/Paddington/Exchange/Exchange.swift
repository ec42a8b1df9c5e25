import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The routing table of one ``Mesh``: who is connected, who is waiting as standby, which handler
/// gets which message, and how many inbound connections are in flight. All state sits behind one
/// lock; nothing here is global, so any number of meshes can live in one process.
final class Exchange: Sendable {
    private enum Slot {
        /// A handshake has been told "primary" and is finishing.
        case claimed(token: UInt64)
        case connected(PeerConnection)
    }

    private struct HandlerEntry {
        var sender: String?
        var zone: String?
        var handler: MessageHandler
    }

    private struct State {
        var slots: [PeerID: Slot] = [:]
        var standby: [PeerID: Int] = [:]
        var handlers: [HandlerEntry] = []
        var pendingHandshakes = 0
        var perAddress: [IPAddress: Int] = [:]
        var nextToken: UInt64 = 0
        var shuttingDown = false
        var emptyWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// The client that last authenticated from each address (bounded; cleared when full).
        var lastClient: [IPAddress: PeerID] = [:]
    }

    static let lastClientCapacity = 65_536

    func lastClient(from address: IPAddress) -> PeerID? {
        state.withLockedValue { $0.lastClient[address] }
    }

    func authenticated(_ peer: PeerID, from address: IPAddress) {
        state.withLockedValue { state in
            if state.lastClient.count >= Self.lastClientCapacity { state.lastClient.removeAll() }
            state.lastClient[address] = peer
        }
    }

    private let state = NIOLockedValueBox(State())
    let handlerSlots: AsyncSemaphore

    init(maxConcurrentHandlers: Int) {
        handlerSlots = AsyncSemaphore(limit: maxConcurrentHandlers)
    }

    // MARK: Handlers

    func addHandler(sender: String?, zone: String?, _ handler: @escaping MessageHandler) {
        state.withLockedValue { $0.handlers.append(HandlerEntry(sender: sender, zone: zone, handler: handler)) }
    }

    /// The most specific handler for `peer`: sender and zone, then sender, then zone, then any.
    func handler(for peer: PeerID) -> MessageHandler? {
        state.withLockedValue { state in
            func score(_ entry: HandlerEntry) -> Int? {
                if let sender = entry.sender, sender != peer.name { return nil }
                if let zone = entry.zone, zone != peer.zone { return nil }
                return (entry.sender != nil ? 2 : 0) + (entry.zone != nil ? 1 : 0)
            }
            var best: (Int, MessageHandler)?
            for entry in state.handlers {
                guard let value = score(entry) else { continue }
                if best == nil || value > best!.0 { best = (value, entry.handler) }
            }
            return best?.1
        }
    }

    // MARK: Connections

    func connection(for peer: PeerID) -> PeerConnection? {
        state.withLockedValue { state in
            if case .connected(let connection)? = state.slots[peer] { return connection }
            return nil
        }
    }

    var connectedPeers: [PeerInfo] {
        state.withLockedValue { state in
            state.slots.values.compactMap { slot -> PeerInfo? in
                if case .connected(let connection) = slot { return connection.info }
                return nil
            }
        }
    }

    var allConnections: [PeerConnection] {
        state.withLockedValue { state in
            state.slots.values.compactMap { slot -> PeerConnection? in
                if case .connected(let connection) = slot { return connection }
                return nil
            }
        }
    }

    /// Server side: may a new connection for `peer` become primary? A "primary" answer claims the
    /// slot until ``register(_:claim:)`` or ``releaseClaim(_:token:)``.
    func decideStandby(_ peer: PeerID, maxStandby: Int, isRetry: Bool) -> (status: WireMessage.Standby, claim: UInt64?, refused: Bool) {
        state.withLockedValue { state in
            if state.shuttingDown { return (.secondaryServer, nil, false) }
            if state.slots[peer] == nil {
                state.nextToken += 1
                state.slots[peer] = .claimed(token: state.nextToken)
                if isRetry { state.standby[peer, default: 1] -= 1 }
                return (.primary, state.nextToken, false)
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

    /// Registers an established connection. Fails when `name@zone` is already held by another
    /// connection (or claimed by a handshake other than `claim`).
    func register(_ connection: PeerConnection, claim: UInt64?) throws {
        try state.withLockedValue { state in
            if state.shuttingDown { throw PaddingtonError(.shutdown, "the mesh is shutting down") }
            switch state.slots[connection.id] {
            case nil:
                break
            case .claimed(let token)? where token == claim:
                break
            default:
                throw PaddingtonError(.tooManyConnections, "\(connection.id) is already connected; one link per name@zone")
            }
            state.slots[connection.id] = .connected(connection)
        }
    }

    func unregister(_ connection: PeerConnection) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            if case .connected(let held)? = state.slots[connection.id], held === connection {
                state.slots[connection.id] = nil
            }
            guard !state.slots.values.contains(where: { if case .connected = $0 { return true } else { return false } }) else { return [] }
            defer { state.emptyWaiters = [:] }
            return Array(state.emptyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when no connection is registered, or when the task is cancelled (shutdown races it
    /// against its timeout).
    func waitUntilNoConnections() async {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextToken += 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if Task.isCancelled { return true }
                    if !state.slots.values.contains(where: { if case .connected = $0 { return true } else { return false } }) { return true }
                    state.emptyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.emptyWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    // MARK: Admission of inbound connections

    /// Counts a new inbound connection; false when a limit is reached.
    func admit(_ address: IPAddress, maxPending: Int, maxPerAddress: Int) -> PaddingtonError? {
        state.withLockedValue { state in
            if state.shuttingDown { return PaddingtonError(.shutdown, "the mesh is shutting down") }
            guard state.pendingHandshakes < maxPending else {
                return PaddingtonError(.tooManyConnections, "\(state.pendingHandshakes) connections are already in handshake (limit \(maxPending))")
            }
            let current = state.perAddress[address, default: 0]
            guard current < maxPerAddress else {
                return PaddingtonError(.tooManyConnections, "\(address) already has \(current) connections (limit \(maxPerAddress))")
            }
            state.pendingHandshakes += 1
            state.perAddress[address] = current + 1
            return nil
        }
    }

    func handshakeFinished() {
        state.withLockedValue { $0.pendingHandshakes -= 1 }
    }

    func connectionClosed(_ address: IPAddress) {
        state.withLockedValue { state in
            let count = state.perAddress[address, default: 0] - 1
            state.perAddress[address] = count > 0 ? count : nil
        }
    }

    // MARK: Shutdown

    var isShuttingDown: Bool { state.withLockedValue { $0.shuttingDown } }

    /// Marks the exchange as closing and returns the connections to close.
    func beginShutdown() -> [PeerConnection] {
        state.withLockedValue { state in
            state.shuttingDown = true
            return state.slots.values.compactMap { slot -> PeerConnection? in
                if case .connected(let connection) = slot { return connection }
                return nil
            }
        }
    }
}

/// Counts one inbound connection against the admission limits, and gives it back exactly once.
final class Admission: Sendable {
    private let exchange: Exchange
    private let address: IPAddress
    private let pending = NIOLockedValueBox(true)

    init(exchange: Exchange, address: IPAddress) {
        self.exchange = exchange
        self.address = address
    }

    /// The handshake ended (either way): it no longer counts as pending.
    func handshakeDone() {
        let wasPending = pending.withLockedValue { value -> Bool in
            defer { value = false }
            return value
        }
        if wasPending { exchange.handshakeFinished() }
    }

    /// The TCP connection closed.
    func closed() {
        handshakeDone()
        exchange.connectionClosed(address)
    }
}
