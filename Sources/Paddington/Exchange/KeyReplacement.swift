import Foundation
import PaddingtonCrypto

/// Replacing the keys of a single-use invitation over its first link, between two peers of ours: the
/// server sends new keys on the built-in route `paddington.keys.replace`; the client stores them
/// (``MeshConfiguration/configurationChanged``) before it answers, then dials with them. The server
/// keeps the invitation's keys valid until the client confirms or dials with the new ones.
enum KeyReplacement {
    static let route = "paddington.keys.replace"

    /// The request's body: the two keys, hex.
    struct Body: Codable {
        var inner: String
        var outer: String
    }

    // MARK: The server's side

    /// Sends `keys` to the client `peer`, once `saved` says this side stored them, and records the
    /// outcome: confirmed, the invitation's keys are dead; a peer that can never take keys (a Rust
    /// peer, an older one: `unsupportedByPeer`, `unknownRoute`), the invitation's keys stay, no longer
    /// single-use; an answer without storing them (`badRequest`, `overloaded`, `remoteError`), the
    /// invitation's keys are the client's again and its next connection tries again; no answer (the
    /// link dropped, a deadline), both keys stay valid until the client dials with one.
    static func send(_ keys: EnvelopeKeys, once saved: Task<Bool, Never>?, to peer: PeerID, mesh: Mesh) async {
        let core = mesh.core
        // The new keys go out only once this side has them on disk: a client holding keys its server
        // forgot (after a crash, or a failed save) could never connect again.
        if let saved, await !saved.value {
            core.logger.error("new keys for a single-use invitation were not sent: the configuration could not be saved", metadata: ["peer": "\(peer)"])
            core.abandonReplacement(for: peer, keys: keys, save: false)
            return
        }
        let body = Body(inner: keys.inner.exposeHex(), outer: keys.outer.exposeHex())
        do {
            let bytes = try JSONEncoder().encode(body)
            _ = try await mesh.request(bytes: Array(bytes), to: peer.name, zone: peer.zone, route: route, timeout: .seconds(30))
            let change = ConfigurationChange.clientKeysReplaced(client: peer, keys: keys)
            core.apply(change)
            core.persist([change])
        } catch let error as PaddingtonError where [.unsupportedByPeer, .unknownRoute].contains(error.code) {
            // It can never take keys: the invitation's stay, no longer single-use.
            core.logger.notice("the client cannot take new keys: its invitation's keys stay, no longer single-use", metadata: [
                "peer": "\(peer)", "reason": "\(error.code)", "error": "\(error.message)",
            ])
            let change = ConfigurationChange.singleUseDeclined(client: peer)
            core.apply(change)
            core.persist([change])
        } catch let error as PaddingtonError where [.badRequest, .overloaded, .remoteError].contains(error.code) {
            // It answered without storing them: the invitation's keys are its keys again.
            core.logger.info("the client did not store new keys; tried again at its next connection", metadata: [
                "peer": "\(peer)", "reason": "\(error.code)", "error": "\(error.message)",
            ])
            core.abandonReplacement(for: peer, keys: keys, save: true)
        } catch {
            // No answer: it may have stored them. Both keys stay valid until it dials with one.
            core.logger.info("new keys not confirmed; both stay valid until the client dials again", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    // MARK: The client's side

    /// Registers the route that takes new keys from a server this service dials.
    static func register(on core: MeshCore) {
        core.agents.routes.register(route) { request, context in
            try await store(request.bytes, from: context.peer, core: core)
            return Reply(bytes: [])
        }
    }

    private static func store(_ bytes: [UInt8], from peer: PeerID, core: MeshCore) async throws {
        guard let link = core.registry.link(for: peer), link.info.weDialled, core.server(peer) != nil else {
            throw PaddingtonError(.badRequest, "only a server this service dials may replace the keys it was invited with")
        }
        guard let save = core.options.configurationChanged else {
            // Not a refusal for good: a program that keeps its configuration may dial with this one later.
            throw PaddingtonError(.overloaded, "\(core.name) cannot store new keys (it keeps no configuration file)")
        }
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(bytes))
        } catch {
            throw PaddingtonError(.badRequest, "the new keys are not {\"inner\":\"<64 hex>\",\"outer\":\"<64 hex>\"}")
        }
        guard body.inner.utf8.count == 64, body.outer.utf8.count == 64,
            let inner = try? SecretKey(hex: body.inner), let outer = try? SecretKey(hex: body.outer),
            !inner.isNull, !outer.isNull, inner != outer
        else {
            throw PaddingtonError(.badRequest, "the new keys must be two different, non-zero 32-byte keys in hex")
        }
        let change = ConfigurationChange.serverKeysReplaced(server: peer, keys: EnvelopeKeys(inner: inner, outer: outer))
        // Kept on disk before the server is told, so that a crash cannot leave this side without them.
        do {
            try await save(change)
        } catch {
            // Not a refusal: the server keeps the invitation's keys valid and tries at the next connection.
            throw PaddingtonError(.overloaded, "\(core.name) could not store the new keys now: \(error)")
        }
        core.apply(change)
    }
}
