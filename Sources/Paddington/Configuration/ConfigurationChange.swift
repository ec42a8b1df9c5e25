import Foundation
import PaddingtonCrypto

/// A change a running ``Mesh`` made to its own configuration, for the application to keep across
/// restarts (``MeshConfiguration/configurationChanged``).
///
/// Apply it to the configuration as it is on disk now (``apply(to:)``), not to a copy from when the
/// service started: the operator may have edited the file since.
public enum ConfigurationChange: Sendable, Equatable, CustomStringConvertible {
    /// The client connected with its invitation's keys: the invitation no longer expires.
    case invitationUsed(client: PeerID)
    /// The client connected with its new keys after a rotation: its previous keys are no longer accepted.
    case previousKeysRetired(client: PeerID)
    /// A single-use invitation was used for the first time: the client is sent these keys; the
    /// invitation's keys stay valid (as previous keys) until the client confirms or until `previousUntil`.
    case singleUseStarted(client: PeerID, keys: EnvelopeKeys, previousUntil: Date)
    /// A single-use invitation's replacement is done: the client holds these keys, and the invitation's
    /// no longer work.
    case clientKeysReplaced(client: PeerID, keys: EnvelopeKeys)
    /// The client of a single-use invitation cannot take new keys at all (a Rust peer, a peer of ours
    /// from before single-use invitations): it keeps the invitation's, which are no longer single-use.
    case singleUseDeclined(client: PeerID)
    /// The client of a single-use invitation did not store the new keys (it keeps no configuration
    /// file, or could not save it now): it keeps the invitation's, still single-use, and the next
    /// connection tries again.
    case singleUseRetry(client: PeerID)
    /// The server replaced the keys of a single-use invitation of ours over the link: dial it with these.
    case serverKeysReplaced(server: PeerID, keys: EnvelopeKeys)

    /// Makes the change in `configuration`. A change for a peer the configuration no longer has does nothing.
    public func apply(to configuration: inout ServiceConfiguration) {
        switch self {
        case .invitationUsed(let peer):
            configuration.updateClient(peer) { $0.expires = nil }
        case .previousKeysRetired(let peer):
            configuration.updateClient(peer) {
                $0.previousKeys = nil
                $0.previousKeysUntil = nil
            }
        case .singleUseStarted(let peer, let keys, let until):
            // The invitation's expiry stays until the replacement is done (it applies to the
            // invitation's keys again if the replacement is abandoned).
            configuration.updateClient(peer) {
                $0.previousKeys = $0.keys
                $0.previousKeysUntil = until
                $0.keys = keys
            }
        case .singleUseRetry(let peer):
            configuration.updateClient(peer) {
                if let previous = $0.previousKeys { $0.keys = previous }
                $0.previousKeys = nil
                $0.previousKeysUntil = nil
            }
        case .singleUseDeclined(let peer):
            configuration.updateClient(peer) {
                if let previous = $0.previousKeys { $0.keys = previous }
                $0.previousKeys = nil
                $0.previousKeysUntil = nil
                $0.singleUse = false
                $0.expires = nil
            }
        case .clientKeysReplaced(let peer, let keys):
            configuration.updateClient(peer) {
                $0.keys = keys
                $0.previousKeys = nil
                $0.previousKeysUntil = nil
                $0.expires = nil
                $0.singleUse = false
            }
        case .serverKeysReplaced(let peer, let keys):
            if let index = configuration.servers.firstIndex(where: { $0.name == peer.name && $0.zone == peer.zone }) {
                configuration.servers[index].keys = keys
            }
        }
    }

    /// What changed, for whom; keys print as `<redacted>`.
    public var description: String {
        switch self {
        case .invitationUsed(let peer): "invitation of \(peer) used (it no longer expires)"
        case .previousKeysRetired(let peer): "previous keys of \(peer) retired"
        case .singleUseStarted(let peer, _, _): "single-use invitation of \(peer) used: sending it new keys (<redacted>)"
        case .clientKeysReplaced(let peer, _): "keys of client \(peer) replaced (<redacted>)"
        case .singleUseDeclined(let peer): "client \(peer) cannot take new keys: it keeps its invitation's, no longer single-use"
        case .singleUseRetry(let peer): "client \(peer) did not store new keys: it keeps its invitation's, tried again at its next connection"
        case .serverKeysReplaced(let peer, _): "keys for server \(peer) replaced (<redacted>)"
        }
    }
}

extension ServiceConfiguration {
    /// Runs `change` on the client entry of `peer`, if there is one.
    mutating func updateClient(_ peer: PeerID, _ change: (inout ClientEntry) -> Void) {
        guard let index = clients.firstIndex(where: { $0.name == peer.name && $0.zone == peer.zone }) else { return }
        change(&clients[index])
    }
}
