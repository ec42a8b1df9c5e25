import Testing
@testable import Paddington

@Suite("Two meshes in one process, over 127.0.0.1")
struct MeshTests {
    @Test("handshake, messages both ways in order, disconnect event when one side stops")
    func roundTrip() async throws {
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let serverInbox = Inbox()
        let server = RunningMesh(serverConfig) { mesh in
            mesh.onMessage { message, _ in serverInbox.append(message) }
        }
        let port = try await server.mesh.listeningPort()

        let clientInbox = Inbox()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port)) { mesh in
            mesh.onMessage { message, _ in clientInbox.append(message) }
        }
        try await client.recorder.wait(for: "client connected") { $0.isConnected }
        let connected = try await server.recorder.wait(for: "server connected") { $0.isConnected }
        if case .peerConnected(let info) = connected {
            #expect(info.id == PeerID(name: "client", zone: "default"))
            #expect(info.engine == "swift-paddington")
            #expect(!info.weDialled)
        }

        for n in 0..<200 { try await client.mesh.send("c\(n)", to: "server") }
        for n in 0..<200 { try await server.mesh.send("s\(n)", to: "client") }
        try await serverInbox.wait(count: 200)
        try await clientInbox.wait(count: 200)
        #expect(serverInbox.all.map(\.payload) == (0..<200).map { "c\($0)" })
        #expect(clientInbox.all.map(\.payload) == (0..<200).map { "s\($0)" })
        #expect(serverInbox.all.first == Message(sender: "client", recipient: "server", zone: "default", payload: "c0"))
        // KEEPALIVE stays inside the library.
        #expect(!serverInbox.all.contains { $0.payload == "KEEPALIVE" })

        await client.stop()
        let event = try await server.recorder.wait(for: "server sees disconnect") { $0.isDisconnected }
        if case .peerDisconnected(let peer, _) = event { #expect(peer.name == "client") }
        await #expect(throws: PaddingtonError.self) { try await server.mesh.send("late", to: "client") }
        await server.stop()
    }

    /// An address literal is connected to directly; a host name goes through the resolver. Both must
    /// reach the server (here `localhost`, which may resolve to ::1 first: the server listens on
    /// 127.0.0.1 only, so that attempt is refused and the IPv4 one must win).
    @Test("a server named by host name is dialled through the resolver", arguments: [ProtocolPolicy.off, .auto])
    func hostName(policy: ProtocolPolicy) async throws {
        var serverConfig = try serverConfiguration()
        serverConfig.protocolPolicy = policy
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let serverInbox = Inbox()
        let server = RunningMesh(serverConfig) { mesh in
            mesh.onMessage { message, _ in serverInbox.append(message) }
        }
        let port = try await server.mesh.listeningPort()
        var clientConfig = try ServiceConfiguration(name: "client", port: 0)
        clientConfig.protocolPolicy = policy
        var named = invitation
        named.url = "ws://localhost:\(port)/"
        try clientConfig.addServer(named)
        let client = RunningMesh(clientConfig) { _ in }
        let info = try await client.mesh.waitUntilConnected("server", timeout: .seconds(30))
        #expect(info.protocolVersion == (policy == .off ? 1 : 2))
        try await client.mesh.send("by name", to: "server")
        try await serverInbox.wait(count: 1)
        #expect(serverInbox.all.map(\.payload) == ["by name"])
        await client.stop()
        await server.stop()
    }
}
