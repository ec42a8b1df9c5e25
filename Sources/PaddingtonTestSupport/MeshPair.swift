import Paddington

/// A server mesh with one client, `client`, and that client's mesh, running and connected over
/// 127.0.0.1 (the server on a free port). Stop both with ``stop()``.
package struct MeshPair: Sendable {
    package let server: Mesh
    package let client: Mesh
    private let tasks: [Task<Void, Never>]

    /// Starts both meshes and returns once the client is connected.
    ///
    /// - Parameters:
    ///   - extraClients: more clients configured on the server (never connected), for trial decryption.
    package static func start(
        options: MeshConfiguration = MeshConfiguration(),
        extraClients: Int = 0,
        serverHandler: @escaping MessageHandler,
        clientHandler: @escaping MessageHandler = { _, _ in }
    ) async throws -> MeshPair {
        var serverConfig = try ServiceConfiguration(name: "server", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        let anywhere = try IPAllowance(parsing: "127.0.0.1")
        for n in 0..<extraClients { try serverConfig.addClient("other\(n)", allowing: anywhere) }
        var invitation = try serverConfig.addClient("client", allowing: anywhere)
        let server = Mesh(configuration: serverConfig, options: options, logger: quietLogger("server"))
        server.onMessage(serverHandler)
        var tasks: [Task<Void, Never>] = [Task { _ = try? await server.run() }]
        let port = try await server.listeningPort()
        invitation.url = "ws://127.0.0.1:\(port)/"
        var clientConfig = try ServiceConfiguration(name: "client", port: 0)
        try clientConfig.addServer(invitation)
        let client = Mesh(configuration: clientConfig, options: options, logger: quietLogger("client"))
        client.onMessage(clientHandler)
        tasks.append(Task { _ = try? await client.run() })
        try await client.waitUntilConnected("server", timeout: .seconds(30))
        return MeshPair(server: server, client: client, tasks: tasks)
    }

    /// Shuts both meshes down and waits for them.
    package func stop() async {
        client.shutdown()
        server.shutdown()
        for task in tasks { await task.value }
    }
}
