import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The accept loop of the small servers beside a mesh (the control socket, the health endpoint): each
/// accepted connection is served in a child task, at most `maxConnections` at once (one more is closed
/// at once), until graceful shutdown closes the listening socket or the task is cancelled.
package enum AcceptLoop {
    package static func run<Inbound: Sendable, Outbound: Sendable>(
        _ server: NIOAsyncChannel<ChannelClaim<Inbound, Outbound>, Never>,
        maxConnections: Int,
        what: String,
        logger: Logger,
        serve: @escaping @Sendable (NIOAsyncChannel<Inbound, Outbound>) async -> Void
    ) async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    let serving = NIOLockedValueBox(0)
                    for try await claim in connections {
                        guard let connection = claim.take() else { continue }
                        let admitted = serving.withLockedValue { count -> Bool in
                            guard count < maxConnections else { return false }
                            count += 1
                            return true
                        }
                        guard admitted else {
                            try? await connection.executeThenClose { _, _ in }
                            logger.debug("\(what) connection refused: too many at once")
                            continue
                        }
                        group.addTask {
                            defer { serving.withLockedValue { $0 -= 1 } }
                            await serve(connection)
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }
}
