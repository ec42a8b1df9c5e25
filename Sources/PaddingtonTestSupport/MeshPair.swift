import Paddington

/// A server mesh with one client, `client`, and that client's mesh, running and connected over
/// 127.0.0.1 (the server on a free port). Stop both with ``stop()``.
package struct MeshPair: Sendable {
    package let server: Mesh
    package let client: Mesh
    /// The server as the client saw it when the link came up, with the wire protocol negotiated
    /// (``PeerInfo/protocolVersion``).
    package let serverInfo: PeerInfo
    private let tasks: [Task<Void, Never>]

    /// Starts both meshes and returns once the client is connected.
    ///
    /// - Parameters:
    ///   - protocolPolicy: the wire protocols both services may use (`ServiceConfiguration.protocolPolicy`
    ///     on each side): `.auto` negotiates protocol 2 between these two peers, `.off` keeps them on
    ///     protocol 1.
    ///   - extraClients: more clients configured on the server (never connected), for trial decryption.
    package static func start(
        protocolPolicy: ProtocolPolicy = .auto,
        options: MeshConfiguration = MeshConfiguration(),
        extraClients: Int = 0,
        serverHandler: @escaping MessageHandler,
        clientHandler: @escaping MessageHandler = { _, _ in }
    ) async throws -> MeshPair {
        var serverConfig = try ServiceConfiguration(name: "server", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        serverConfig.protocolPolicy = protocolPolicy
        let anywhere = try IPAllowance(parsing: "127.0.0.1")
        for n in 0..<extraClients { try serverConfig.addClient("other\(n)", allowing: anywhere) }
        var invitation = try serverConfig.addClient("client", allowing: anywhere)
        let server = Mesh(configuration: serverConfig, options: options, logger: quietLogger("server"))
        server.onMessage(serverHandler)
        var tasks: [Task<Void, Never>] = [Task { _ = try? await server.run() }]
        let port = try await server.listeningPort()
        invitation.url = "ws://127.0.0.1:\(port)/"
        var clientConfig = try ServiceConfiguration(name: "client", port: 0)
        clientConfig.protocolPolicy = protocolPolicy
        try clientConfig.addServer(invitation)
        let client = Mesh(configuration: clientConfig, options: options, logger: quietLogger("client"))
        client.onMessage(clientHandler)
        tasks.append(Task { _ = try? await client.run() })
        let serverInfo = try await client.waitUntilConnected("server", timeout: .seconds(30))
        return MeshPair(server: server, client: client, serverInfo: serverInfo, tasks: tasks)
    }

    /// Shuts both meshes down and waits for them.
    package func stop() async {
        client.shutdown()
        server.shutdown()
        for task in tasks { await task.value }
    }
}
