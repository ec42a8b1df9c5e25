import NIOConcurrencyHelpers

/// The handlers of one mesh, by sender and zone. Registering for a sender and zone that already has a
/// handler replaces it; the most specific match wins at delivery.
final class HandlerTable: Sendable {
    private struct Key: Hashable {
        var sender: String?
        var zone: String?

        /// 3: sender and zone, 2: sender, 1: zone, 0: any; nil when it does not match `peer`.
        func score(for peer: PeerID) -> Int? {
            if let sender, sender != peer.name { return nil }
            if let zone, zone != peer.zone { return nil }
            return (sender != nil ? 2 : 0) + (zone != nil ? 1 : 0)
        }
    }

    private struct State {
        var handlers: [Key: MessageHandler] = [:]
        /// Peers whose unhandled messages were reported since the last registration (bounded).
        var reportedUnhandled: Set<PeerID> = []
    }

    static let reportedCapacity = 4096

    private let state = NIOLockedValueBox(State())

    /// Registers `handler`; returns true when it replaced one registered for the same sender and zone.
    @discardableResult
    func register(sender: String?, zone: String?, _ handler: @escaping MessageHandler) -> Bool {
        state.withLockedValue { state in
            state.reportedUnhandled = []
            return state.handlers.updateValue(handler, forKey: Key(sender: sender, zone: zone)) != nil
        }
    }

    /// Removes the handler registered for exactly this sender and zone; returns whether there was one.
    @discardableResult
    func remove(sender: String?, zone: String?) -> Bool {
        state.withLockedValue { $0.handlers.removeValue(forKey: Key(sender: sender, zone: zone)) != nil }
    }

    /// The most specific handler for `peer`: sender and zone, then sender, then zone, then any.
    func handler(for peer: PeerID) -> MessageHandler? {
        state.withLockedValue { state in
            var best: (score: Int, handler: MessageHandler)?
            for (key, handler) in state.handlers {
                guard let score = key.score(for: peer) else { continue }
                if let current = best, current.score >= score { continue }
                best = (score, handler)
            }
            return best?.handler
        }
    }

    /// Records an unhandled message from `peer`; true the first time since the last registration, so
    /// that the caller reports it once per peer.
    func firstUnhandled(from peer: PeerID) -> Bool {
        state.withLockedValue { state in
            if state.reportedUnhandled.count >= Self.reportedCapacity { state.reportedUnhandled.removeAll() }
            return state.reportedUnhandled.insert(peer).inserted
        }
    }
}
