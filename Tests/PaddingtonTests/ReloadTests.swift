import Foundation
import NIOConcurrencyHelpers
import PaddingtonCrypto
import Testing

@testable import Paddington

/// Reload without restart, key rotation with an overlap, and expiring invitations, over real sockets.
@Suite("Reload, rotation and expiry")
struct ReloadTests {
    static let loopback = try! IPAllowance(parsing: "127.0.0.1")

    /// A client mesh named `name` dialling `port` with `keys`.
    static func client(_ name: String, keys: EnvelopeKeys, port: Int, options: MeshConfiguration = fastOptions()) throws -> RunningMesh {
        let invitation = try Invitation(name: "server", url: "ws://127.0.0.1:\(port)/", zone: "default", keys: keys)
        var config = try ServiceConfiguration(name: name, url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        try config.addServer(invitation)
        return RunningMesh(config, options: options)
    }

    static func keys(of client: String, in mesh: Mesh) throws -> EnvelopeKeys {
        try #require(mesh.configuration.clients.first { $0.name == client }).keys
    }

    /// Waits until the server refuses the client's keys (one more `authenticationFailed` there), and
    /// checks that the client never connected.
    static func expectRefused(_ client: RunningMesh, by server: RunningMesh) async throws {
        let refused: @Sendable (MeshEvent) -> Bool = { $0.failureCode == .authenticationFailed }
        let before = server.recorder.count(refused)
        try await client.recorder.wait(for: "the client's attempt to fail") { $0.failureCode != nil }
        #expect(try await server.recorder.wait(untilCount: before + 1, refused) > before)
        #expect(client.recorder.count(\.isConnected) == 0)
    }

    /// Waits (bounded, 10 s) until `condition` holds, and records an issue if it never does.
    static func eventually(_ what: String = "the condition", sourceLocation: SourceLocation = #_sourceLocation, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition(), "\(what) never held", sourceLocation: sourceLocation)
    }

    // MARK: Reload

    @Test("a reload that removes a client while a second connection of it waits as standby: the standby never becomes a link")
    func standbyAfterRemoval() async throws {
        var config = try serverConfiguration()
        _ = try config.addClient("client", allowing: Self.loopback)
        let server = RunningMesh(config)
        let port = try await server.mesh.listeningPort()
        let keys = try Self.keys(of: "client", in: server.mesh)
        let first = try Self.client("client", keys: keys, port: port)
        try await first.recorder.wait(for: "first connected") { $0.isConnected }
        let second = try Self.client("client", keys: keys, port: port)  // waits as standby behind the first
        try await Task.sleep(for: .milliseconds(300))
        #expect(second.recorder.count(\.isConnected) == 0)
        var next = server.mesh.configuration
        try next.removeClient("client")
        try server.mesh.reload(next)
        try await first.recorder.wait(for: "first disconnected") { $0.isDisconnected }
        // The standby polls each second: promoted, its link is closed at once; later dials are refused.
        try await second.recorder.wait(for: "the standby's outcome") { $0.isConnected || $0.failureCode != nil }
        try await Self.eventually("no link to the removed client") { server.mesh.connectedPeers.isEmpty }
        try await Self.eventually("the standby not connected") { second.mesh.connectedPeers.isEmpty }
        for mesh in [second, first, server] { await mesh.stop() }
    }

    @Test("reload: an added client may connect, a removed one is disconnected and refused, a changed one keeps its link")
    func clients() async throws {
        var config = try serverConfiguration()
        _ = try config.addClient("stays", allowing: Self.loopback)
        _ = try config.addClient("leaves", allowing: Self.loopback)
        let server = RunningMesh(config)
        let port = try await server.mesh.listeningPort()
        let stays = try Self.client("stays", keys: try Self.keys(of: "stays", in: server.mesh), port: port)
        let leaves = try Self.client("leaves", keys: try Self.keys(of: "leaves", in: server.mesh), port: port)
        try await stays.recorder.wait(for: "stays connected") { $0.isConnected }
        try await leaves.recorder.wait(for: "leaves connected") { $0.isConnected }

        var next = server.mesh.configuration
        try next.removeClient("leaves")
        _ = try next.addClient("arrives", allowing: Self.loopback)
        let oldKeys = try Self.keys(of: "stays", in: server.mesh)
        _ = try next.rotateClientKeys("stays")
        let summary = try server.mesh.reload(next)
        #expect(summary.clientsAdded == [PeerID(name: "arrives")])
        #expect(summary.clientsRemoved == [PeerID(name: "leaves")])
        #expect(summary.clientsChanged == [PeerID(name: "stays")])
        #expect(summary.description == "clients +arrives@default -leaves@default ~stays@default")

        try await leaves.recorder.wait(for: "leaves disconnected") { $0.isDisconnected }
        let arrives = try Self.client("arrives", keys: try Self.keys(of: "arrives", in: server.mesh), port: port)
        try await arrives.recorder.wait(for: "arrives connected") { $0.isConnected }
        // The changed client's live link is still up; its old keys no longer open a new handshake.
        #expect(stays.recorder.count(\.isDisconnected) == 0)
        try await stays.mesh.send("still here", to: "server")
        let oldCopy = try Self.client("stays", keys: oldKeys, port: port)
        try await Self.expectRefused(oldCopy, by: server)
        // The removed client keeps being refused when it dials again.
        let failures = leaves.recorder.count { $0.failureCode != nil }
        _ = try await leaves.recorder.wait(untilCount: failures + 1) { $0.failureCode != nil }
        #expect(leaves.recorder.count(\.isConnected) == 1)
        for mesh in [oldCopy, arrives, leaves, stays, server] { await mesh.stop() }
    }

    @Test("reload refuses what needs a restart, naming it, and changes nothing")
    func needsRestart() async throws {
        var config = try serverConfiguration()
        _ = try config.addClient("client", allowing: Self.loopback)
        let server = RunningMesh(config)
        _ = try await server.mesh.listeningPort()
        let before = server.mesh.configuration
        var renamed = before
        renamed.name = "other"
        _ = try renamed.addClient("extra", allowing: Self.loopback)
        let error = #expect(throws: PaddingtonError.self) { try server.mesh.reload(renamed) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("the name (server → other)") == true)
        var moved = before
        try moved.setListenAddress(ip: "127.0.0.1", port: 6599)
        let movedError = #expect(throws: PaddingtonError.self) { try server.mesh.reload(moved) }
        #expect(movedError?.message.contains("listen address") == true)
        #expect(server.mesh.configuration == before)
        await server.stop()

        // A service that started without clients does not listen: clients need a restart.
        let lonely = RunningMesh(try serverConfiguration(name: "lonely"))
        var withClient = lonely.mesh.configuration
        _ = try withClient.admitClient("client", allowing: Self.loopback)
        let lonelyError = #expect(throws: PaddingtonError.self) { try lonely.mesh.reload(withClient) }
        #expect(lonelyError?.message.contains("does not listen") == true)
        await lonely.stop()
    }

    @Test("reload on the dialling side: an added server is dialled, a removed one disconnected and not dialled again, changed keys used at once with reconnectNow")
    func servers() async throws {
        var config = try serverConfiguration()
        _ = try config.addClient("client", allowing: Self.loopback)
        let first = RunningMesh(config)
        let firstPort = try await first.mesh.listeningPort()
        var otherConfig = try serverConfiguration(name: "other")
        _ = try otherConfig.addClient("client", allowing: Self.loopback)
        let other = RunningMesh(otherConfig)
        let otherPort = try await other.mesh.listeningPort()

        let client = try Self.client("client", keys: try Self.keys(of: "client", in: first.mesh), port: firstPort)
        try await client.recorder.wait(for: "connected to server") { $0.isConnected }

        // Add "other", and give "server" new keys (the server is reloaded with them first).
        var serverNext = first.mesh.configuration
        _ = try serverNext.rotateClientKeys("client")
        try first.mesh.reload(serverNext)
        var next = client.mesh.configuration
        let otherInvitation = try Invitation(
            name: "other", url: "ws://127.0.0.1:\(otherPort)/", zone: "default", keys: try Self.keys(of: "client", in: other.mesh))
        try next.addServer(otherInvitation)
        next.servers[0].keys = try Self.keys(of: "client", in: first.mesh)
        let summary = try client.mesh.reload(next, reconnectNow: true)
        #expect(summary.serversAdded == [PeerID(name: "other")])
        #expect(summary.serversChanged == [PeerID(name: "server")])
        _ = try await client.recorder.wait(untilCount: 3, \.isConnected)
        #expect(client.recorder.count(\.isConnected) == 3)  // server, other, server again with the new keys
        #expect(first.mesh.connectedPeers.map(\.id) == [PeerID(name: "client")])

        // Remove "other": its link closes, and it is not dialled again.
        var without = client.mesh.configuration
        try without.removeServer("other")
        #expect(try client.mesh.reload(without).serversRemoved == [PeerID(name: "other")])
        try await other.recorder.wait(for: "other sees the client leave") { $0.isDisconnected }
        // Its dialler ends: nothing dials "other" again.
        try await Self.eventually { !client.mesh.core.diallingPeers.contains(PeerID(name: "other")) }
        #expect(client.mesh.core.diallingPeers == [PeerID(name: "server")])
        #expect(other.recorder.count(\.isConnected) == 1)
        #expect(other.recorder.count { $0.failureCode != nil } == 0)
        for mesh in [client, other, first] { await mesh.stop() }
    }

    // MARK: Rotation

    @Test("rotation: the previous keys work during the overlap until the client connects with the new ones; then they are retired and saved")
    func rotationOverlap() async throws {
        let changes = NIOLockedValueBox<[ConfigurationChange]>([])
        var options = fastOptions()
        options.configurationChanged = { change in changes.withLockedValue { $0.append(change) } }
        var config = try serverConfiguration()
        _ = try config.addClient("client", allowing: Self.loopback)
        let old = config.clients[0].keys
        _ = try config.rotateClientKeys("client", keepingPreviousFor: .seconds(3600))
        #expect(config.clients[0].previousKeys == old)
        let new = config.clients[0].keys
        let server = RunningMesh(config, options: options)
        let port = try await server.mesh.listeningPort()

        let oldClient = try Self.client("client", keys: old, port: port)
        try await oldClient.recorder.wait(for: "connected with the previous keys") { $0.isConnected }
        await oldClient.stop()
        #expect(server.mesh.configuration.clients[0].previousKeys == old)  // still in force

        let newClient = try Self.client("client", keys: new, port: port)
        try await newClient.recorder.wait(for: "connected with the new keys") { $0.isConnected }
        try await Self.eventually { server.mesh.configuration.clients[0].previousKeys == nil }
        let deadline = ContinuousClock.now + .seconds(5)
        while changes.withLockedValue({ $0.isEmpty }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(changes.withLockedValue { $0 } == [.previousKeysRetired(client: PeerID(name: "client"))])
        await newClient.stop()

        let lateOld = try Self.client("client", keys: old, port: port)
        try await Self.expectRefused(lateOld, by: server)
        for mesh in [lateOld, server] { await mesh.stop() }
    }

    @Test("rotation: previous keys past their overlap are refused", arguments: [ProtocolPolicy.auto, .off])
    func rotationOver(policy: ProtocolPolicy) async throws {
        var config = try serverConfiguration()
        config.protocolPolicy = policy
        _ = try config.addClient("client", allowing: Self.loopback)
        let old = config.clients[0].keys
        _ = try config.rotateClientKeys("client", keepingPreviousFor: .seconds(3600))
        config.clients[0].previousKeysUntil = Date(timeIntervalSinceNow: -1)
        let server = RunningMesh(config)
        let port = try await server.mesh.listeningPort()
        let client = try Self.client("client", keys: old, port: port)
        try await Self.expectRefused(client, by: server)
        for mesh in [client, server] { await mesh.stop() }
    }

    // MARK: Expiry

    @Test("an expired, unused invitation is refused; an unexpired one connects, and then no longer expires (saved)")
    func expiry() async throws {
        let changes = NIOLockedValueBox<[ConfigurationChange]>([])
        var options = fastOptions()
        options.configurationChanged = { change in changes.withLockedValue { $0.append(change) } }
        var config = try serverConfiguration()
        _ = try config.addClient("late", allowing: Self.loopback)
        _ = try config.addClient("early", allowing: Self.loopback)
        config.clients[0].expires = Date(timeIntervalSinceNow: -1)
        config.clients[1].expires = Date(timeIntervalSinceNow: 3600)
        let server = RunningMesh(config, options: options)
        let port = try await server.mesh.listeningPort()
        let late = try Self.client("late", keys: config.clients[0].keys, port: port)
        try await Self.expectRefused(late, by: server)
        let early = try Self.client("early", keys: config.clients[1].keys, port: port)
        try await early.recorder.wait(for: "early connected") { $0.isConnected }
        try await Self.eventually { server.mesh.configuration.clients[1].expires == nil }
        let deadline = ContinuousClock.now + .seconds(5)
        while changes.withLockedValue({ $0.isEmpty }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(changes.withLockedValue { $0 } == [.invitationUsed(client: PeerID(name: "early"))])
        for mesh in [late, early, server] { await mesh.stop() }
    }

    @Test("rotating an unused invitation keeps its keys no later than its expiry, none once expired, and never a single-use one's")
    func rotatingUnused() throws {
        var config = try serverConfiguration()
        for name in ["soon", "expired", "single"] { _ = try config.addClient(name, allowing: Self.loopback) }
        let now = Date()
        config.clients[0].expires = now.addingTimeInterval(600)
        config.clients[1].expires = now.addingTimeInterval(-1)
        config.clients[2].singleUse = true
        for name in ["soon", "expired", "single"] { _ = try config.rotateClientKeys(name, keepingPreviousFor: .seconds(86_400), now: now) }
        #expect(config.clients[0].previousKeysUntil == now.addingTimeInterval(600))
        #expect(config.clients[1].previousKeys == nil && config.clients[1].previousKeysUntil == nil)
        #expect(config.clients[2].previousKeys == nil && !config.clients[2].singleUse)
        #expect(config.clients.allSatisfy { $0.expires == nil })
    }

    @Test("the lifetime fields round-trip through the file, refuse bad values naming the field, and a change applies to the file's configuration")
    func lifetimeFields() throws {
        var config = try serverConfiguration()
        _ = try config.addClient("client", allowing: Self.loopback)
        _ = try config.rotateClientKeys("client", keepingPreviousFor: .seconds(60))
        config.clients[0].expires = Date(timeIntervalSince1970: 1_800_000_000)
        config.clients[0].singleUse = true
        let text = config.rendered()
        #expect(text.contains("expires = \"2027-01-15T08:00:00Z\""))
        #expect(text.contains("single_use = true"))
        var back = try ServiceConfiguration.parse(text)
        #expect(back.clients[0].previousKeys == config.clients[0].previousKeys)
        #expect(back.clients[0].previousKeysUntil.map { Int($0.timeIntervalSince1970) } == config.clients[0].previousKeysUntil.map { Int($0.timeIntervalSince1970) })
        #expect(back.clients[0].expires == config.clients[0].expires)
        #expect(back.clients[0].singleUse)
        ConfigurationChange.previousKeysRetired(client: PeerID(name: "client")).apply(to: &back)
        ConfigurationChange.invitationUsed(client: PeerID(name: "client")).apply(to: &back)
        #expect(back.clients[0].previousKeys == nil && back.clients[0].expires == nil)
        let fresh = EnvelopeKeys.generate()
        ConfigurationChange.clientKeysReplaced(client: PeerID(name: "client"), keys: fresh).apply(to: &back)
        #expect(back.clients[0].keys == fresh && !back.clients[0].singleUse)
        #expect(!"\(ConfigurationChange.clientKeysReplaced(client: PeerID(name: "client"), keys: fresh))".contains(fresh.inner.exposeHex()))

        let entry = text.components(separatedBy: "[[clients]]")[0]
        for (bad, field) in [
            ("expires = \"tomorrow\"", "clients[0].expires"),
            ("single_use = \"yes\"", "clients[0].single_use"),
            ("previous_keys_until = \"2027-01-15T08:00:00Z\"", "clients[0].previous_inner_key"),
        ] {
            let broken = entry + "[[clients]]\nname = \"x\"\nzone = \"default\"\nip = { IP = \"127.0.0.1\" }\n"
                + "inner_key = { data = \"\(String(repeating: "ab", count: 32))\" }\nouter_key = { data = \"\(String(repeating: "cd", count: 32))\" }\n"
                + bad + "\n"
            let error = #expect(throws: PaddingtonError.self) { try ServiceConfiguration.parse(broken) }
            #expect(error?.message.contains("'\(field)'") == true, "\(String(describing: error))")
        }
    }
}
