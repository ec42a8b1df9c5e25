import Foundation
import PaddingtonCrypto

/// The key pairs a connecting client may authenticate with, derived from the clients of a
/// configuration: each client's keys (unless its unused invitation has expired), and its previous keys
/// while their rotation overlap lasts. One client can thus appear twice, with the same name and zone
/// and different keys.
struct ClientKeys: Sendable {
    /// One entry per accepted key pair, in configuration order.
    let entries: [ClientEntry]
    /// Each entry's protocol 2 pre-shared key (derived once per configuration, not per connection).
    let psks: [SecretKey]
    /// Until when each entry is accepted (nil: no limit).
    private let deadlines: [Date?]
    private let hasDeadlines: Bool
    /// Whether no two entries share keys; see ``MeshCore/preferredClient(from:)``.
    let keysAreDistinct: Bool

    init(_ clients: [ClientEntry]) {
        var entries: [ClientEntry] = []
        var deadlines: [Date?] = []
        for client in clients {
            entries.append(client)
            // While a single-use replacement runs, the current keys are the new ones: the invitation's
            // expiry is not theirs.
            let replacing = client.singleUse && client.previousKeys != nil
            deadlines.append(replacing ? nil : client.expires)
            if let previous = client.previousKeys, let until = client.previousKeysUntil {
                var retiring = client
                retiring.keys = previous
                retiring.previousKeys = nil
                retiring.previousKeysUntil = nil
                retiring.expires = nil
                entries.append(retiring)
                deadlines.append(until)
            }
        }
        self.entries = entries
        self.deadlines = deadlines
        hasDeadlines = deadlines.contains { $0 != nil }
        psks = entries.map { ProtocolTwo.psk(from: $0.keys) }
        keysAreDistinct = Set(psks.map(\.fingerprint)).count == psks.count
    }

    /// The entries and keys accepted at `now`. Without time limits these are the shared arrays
    /// themselves (a connection copies nothing).
    func accepted(at now: Date) -> (entries: [ClientEntry], psks: [SecretKey]) {
        guard hasDeadlines else { return (entries, psks) }
        let open = deadlines.indices.filter { deadlines[$0].map { now < $0 } ?? true }
        return (open.map { entries[$0] }, open.map { psks[$0] })
    }
}
