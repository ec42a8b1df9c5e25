import NIOCore
import NIOPosix
import PaddingtonCrypto

/// The accepting side the tests' fake servers and proxies share: a listening socket on 127.0.0.1 (a
/// free port), each accepted connection served in a child task until ``stop(closing:)``.
struct LoopbackServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let task: Task<Void, Never>

    /// `configure` sets up each accepted channel on its event loop; `serve` then handles what it made.
    static func start<Connection: Sendable>(
        configure: @escaping @Sendable (any Channel) throws -> Connection,
        serve: @escaping @Sendable (Connection) async -> Void
    ) async throws -> LoopbackServer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel) }
            }
        guard let port = server.channel.localAddress?.port else {
            throw PaddingtonError(.transport, "the test server did not bind")
        }
        let task = Task<Void, Never> {
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound { group.addTask { await serve(connection) } }
                    }
                } catch {
                    // The listening socket closed: stop(closing:).
                }
            }
        }
        return LoopbackServer(port: port, channel: server.channel, task: task)
    }

    private init(port: Int, channel: any Channel, task: Task<Void, Never>) {
        self.port = port
        self.channel = channel
        self.task = task
    }

    /// Stops listening, closes `connections` (which the serving tasks are waiting on) and waits until
    /// every serving task has ended.
    func stop(closing connections: [any Channel]) async {
        try? await channel.close()
        for connection in connections { try? await connection.close() }
        await task.value
    }
}
