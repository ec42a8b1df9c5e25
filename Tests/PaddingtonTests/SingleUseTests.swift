import Foundation
import NIOConcurrencyHelpers
import PaddingtonCrypto
import Testing

@testable import Paddington

/// Single-use invitations: new keys over the first link, kept by both sides.
@Suite("Single-use invitations")
struct SingleUseTests {
    static let loopback = try! IPAllowance(parsing: "127.0.0.1")

    /// Records the changes a mesh hands to its application.
    final class Changes: Sendable {
        let all = NIOLockedValueBox<[ConfigurationChange]>([])
        var options: MeshConfiguration {
            var options = fastOptions()
            let all = self.all
            options.configurationChanged = { change in all.withLockedValue { $0.append(change) } }
            return options
        }

        func wait(count: Int) async throws -> [ConfigurationChange] {
            let deadline = ContinuousClock.now + .seconds(10)
            while all.withLockedValue({ $0.count }) < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            return all.withLockedValue { $0 }
        }
    }

    /// A server whose one client, `client`, has a single-use invitation.
    static func server(options: MeshConfiguration, policy: ProtocolPolicy = .auto) async throws -> (RunningMesh, EnvelopeKeys, Int) {
        var config = try serverConfiguration()
        config.protocolPolicy = policy
        _ = try config.addClient("client", allowing: Self.loopback)
        config.clients[0].singleUse = true
        config.clients[0].expires = Date(timeIntervalSinceNow: 3600)
        let server = RunningMesh(config, options: options)
        return (server, config.clients[0].keys, try await server.mesh.listeningPort())
    }

    static func client(keys: EnvelopeKeys, port: Int, options: MeshConfiguration) throws -> RunningMesh {
        let invitation = try Invitation(name: "server", url: "ws://127.0.0.1:\(port)/", zone: "default", keys: keys)
        var config = try ServiceConfiguration(name: "client", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        try config.addServer(invitation)
        return RunningMesh(config, options: options)
    }

    @Test("first use replaces the keys over the link: both sides keep the new ones, the invitation is then useless", arguments: [ProtocolPolicy.auto, .off])
    func replaced(policy: ProtocolPolicy) async throws {
        let serverChanges = Changes(), clientChanges = Changes()
        var serverOptions = serverChanges.options
        serverOptions.reconnect = ReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(100))
        let (server, invitationKeys, port) = try await Self.server(options: serverOptions, policy: policy)
        var clientOptions = clientChanges.options
        clientOptions.reconnect = ReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(100))
        let client = try Self.client(keys: invitationKeys, port: port, options: clientOptions)
        try await server.recorder.wait(for: "connected") { $0.isConnected }
        #expect(server.mesh.connectedPeers.first?.protocolVersion == (policy == .off ? 1 : 2))
        let stored = try await clientChanges.wait(count: 1)
        guard case .serverKeysReplaced(let peer, let fresh)? = stored.first else {
            Issue.record("the client stored no keys: \(stored)")
            return
        }
        #expect(peer == PeerID(name: "server"))
        #expect(fresh != invitationKeys)
        // The client records the change as it saves it, and applies it just after.
        let applied = ContinuousClock.now + .seconds(10)
        while client.mesh.configuration.servers[0].keys != fresh, ContinuousClock.now < applied { try await Task.sleep(for: .milliseconds(10)) }
        #expect(client.mesh.configuration.servers[0].keys == fresh)
        let recorded = try await serverChanges.wait(count: 2)
        #expect(recorded == [
            .singleUseStarted(client: PeerID(name: "client"), keys: fresh, previousUntil: recorded.first.flatMap {
                if case .singleUseStarted(_, _, let until) = $0 { return until } else { return nil }
            } ?? Date()),
            .clientKeysReplaced(client: PeerID(name: "client"), keys: fresh),
        ])
        let entry = server.mesh.configuration.clients[0]
        #expect(entry.keys == fresh && entry.previousKeys == nil && !entry.singleUse && entry.expires == nil)

        // A copy of the invitation file is now useless.
        let refusedBefore = server.recorder.count { $0.failureCode == .authenticationFailed }
        let copy = try Self.client(keys: invitationKeys, port: port, options: fastOptions())
        try await copy.recorder.wait(for: "the copy's attempt to fail") { $0.failureCode != nil }
        #expect(try await server.recorder.wait(untilCount: refusedBefore + 1) { $0.failureCode == .authenticationFailed } > refusedBefore)
        #expect(copy.recorder.count(\.isConnected) == 0)
        // The client itself reconnects with its new keys.
        server.mesh.disconnect("client")
        _ = try await client.recorder.wait(untilCount: 2, \.isConnected)
        #expect(client.recorder.count(\.isConnected) == 2)
        for mesh in [copy, client, server] { await mesh.stop() }
    }

    @Test("a peer without agent frames (as a Rust peer is) keeps the invitation's keys, no longer single-use; one that cannot store keys keeps them, still single-use", arguments: [false, true])
    func declined(rustLike: Bool) async throws {
        let serverChanges = Changes()
        let (server, invitationKeys, port) = try await Self.server(options: serverChanges.options)
        var clientOptions = fastOptions()
        if rustLike {
            clientOptions.identity.announcesAgentFrames = false
            let kept = NIOLockedValueBox<[ConfigurationChange]>([])
            clientOptions.configurationChanged = { change in kept.withLockedValue { $0.append(change) } }
        }
        let client = try Self.client(keys: invitationKeys, port: port, options: clientOptions)
        let recorded = try await serverChanges.wait(count: 2)
        let peer = PeerID(name: "client")
        #expect(recorded.last == (rustLike ? .singleUseDeclined(client: peer) : .singleUseRetry(client: peer)), "\(recorded)")
        let entry = server.mesh.configuration.clients[0]
        #expect(entry.keys == invitationKeys && entry.previousKeys == nil && entry.singleUse == !rustLike)
        // The expiry stays while the invitation is still single-use (it was not replaced).
        #expect((entry.expires != nil) == !rustLike)
        #expect(client.recorder.count(\.isDisconnected) == 0)
        #expect(client.mesh.configuration.servers[0].keys == invitationKeys)
        for mesh in [client, server] { await mesh.stop() }
    }

    @Test("only a server this service dials may send it keys: a client's attempt is a bad request, and nothing changes")
    func onlyFromServers() async throws {
        let serverChanges = Changes()
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: Self.loopback)
        let server = RunningMesh(config, options: serverChanges.options)
        let port = try await server.mesh.listeningPort()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port), options: fastOptions())
        try await client.recorder.wait(for: "connected") { $0.isConnected }
        let body = try JSONEncoder().encode(KeyReplacement.Body(inner: SecretKey.generate().exposeHex(), outer: SecretKey.generate().exposeHex()))
        let error = await #expect(throws: PaddingtonError.self) {
            try await client.mesh.request(bytes: Array(body), to: "server", route: KeyReplacement.route, timeout: .seconds(5))
        }
        #expect(error?.code == .badRequest)
        #expect(error?.message.contains("only a server this service dials") == true)
        #expect(server.mesh.configuration == config)
        #expect(serverChanges.all.withLockedValue { $0.isEmpty })
        for mesh in [client, server] { await mesh.stop() }
    }

    @Test("malformed new keys from a server are refused, naming the problem", arguments: [
        "not json", #"{"inner":"00","outer":"11"}"#,
        #"{"inner":"0000000000000000000000000000000000000000000000000000000000000000","outer":"1111111111111111111111111111111111111111111111111111111111111111"}"#,
    ])
    func malformed(body: String) async throws {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: Self.loopback)
        let server = RunningMesh(config)
        let port = try await server.mesh.listeningPort()
        let clientChanges = Changes()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port), options: clientChanges.options)
        try await server.recorder.wait(for: "connected") { $0.isConnected }
        let error = await #expect(throws: PaddingtonError.self) {
            try await server.mesh.request(body, to: "client", route: KeyReplacement.route, timeout: .seconds(5))
        }
        #expect(error?.code == .badRequest)
        #expect(error?.message.contains("keys") == true)
        #expect(client.mesh.configuration.servers[0].keys == invitation.keys)
        #expect(clientChanges.all.withLockedValue { $0.isEmpty })
        for mesh in [client, server] { await mesh.stop() }
    }
}
