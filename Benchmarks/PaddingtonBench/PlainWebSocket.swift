// The baseline: a plain, unencrypted WebSocket server and client on SwiftNIO, carrying the same
// payloads as the mesh. Both sides use NIOAsyncChannel, as the mesh does, so the difference is the
// protocol (handshake, envelope) and not the I/O style.
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Paddington

enum PlainWebSocket {
    typealias Connection = NIOAsyncChannel<WebSocketFrame, WebSocketFrame>

    enum ServerUpgrade: Sendable {
        case websocket(ChannelClaim<WebSocketFrame, WebSocketFrame>)
        case refused
    }

    enum ClientUpgrade: Sendable {
        case websocket(Connection)
        case refused
    }

    static let maxFrameSize = 16 << 20

    /// A server that calls `handler` for each text frame of each connection, with a way to reply.
    final class Server: Sendable {
        let channel: NIOAsyncChannel<EventLoopFuture<ServerUpgrade>, Never>
        let task: Task<Void, Never>

        var port: Int { channel.channel.localAddress?.port ?? 0 }

        init(handler: @escaping @Sendable (ByteBuffer, NIOAsyncChannelOutboundWriter<WebSocketFrame>) async throws -> Void) async throws {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: "127.0.0.1", port: 0) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let upgrader = NIOTypedWebSocketServerUpgrader<ServerUpgrade>(
                            maxFrameSize: PlainWebSocket.maxFrameSize,
                            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                            upgradePipelineHandler: { channel, _ in
                                channel.eventLoop.makeCompletedFuture {
                                    try channel.pipeline.syncOperations.addHandler(
                                        NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096,
                                                                    maxAccumulatedFrameSize: PlainWebSocket.maxFrameSize))
                                    return .websocket(ChannelClaim(try Connection(wrappingChannelSynchronously: channel)))
                                }
                            })
                        return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                            configuration: .init(upgradeConfiguration: .init(upgraders: [upgrader], notUpgradingCompletionHandler: { channel in
                                channel.close(promise: nil)
                                return channel.eventLoop.makeSucceededFuture(.refused)
                            })))
                    }
                }
            let channel = self.channel
            task = Task {
                try? await withThrowingDiscardingTaskGroup { group in
                    try await channel.executeThenClose { inbound in
                        for try await upgrade in inbound {
                            group.addTask {
                                guard case .websocket(let claim) = try? await upgrade.get(), let connection = claim.take() else { return }
                                try? await connection.executeThenClose { inbound, outbound in
                                    for try await frame in inbound {
                                        handOffFromEventLoop()
                                        switch frame.opcode {
                                        case .text, .binary: try await handler(frame.unmaskedData, outbound)
                                        case .connectionClose: return
                                        default: continue
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        func close() async {
            try? await channel.channel.close()
            task.cancel()
            _ = await task.value
        }
    }

    /// Connects and upgrades; the caller runs `body` with the connection's streams.
    static func connect(port: Int) async throws -> Connection {
        let upgrade: EventLoopFuture<ClientUpgrade> = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let upgrader = NIOTypedWebSocketClientUpgrader<ClientUpgrade>(
                        maxFrameSize: PlainWebSocket.maxFrameSize,
                        upgradePipelineHandler: { channel, _ in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOWebSocketFrameAggregator(minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096,
                                                                maxAccumulatedFrameSize: PlainWebSocket.maxFrameSize))
                                return .websocket(try Connection(wrappingChannelSynchronously: channel))
                            }
                        })
                    var headers = HTTPHeaders()
                    headers.add(name: "Host", value: "127.0.0.1:\(port)")
                    let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: headers)
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                        configuration: .init(upgradeConfiguration: .init(upgradeRequestHead: head, upgraders: [upgrader], notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeSucceededFuture(.refused)
                        })))
                }
            }
        guard case .websocket(let connection) = try await upgrade.get() else {
            throw BenchError("the baseline server refused the upgrade")
        }
        return connection
    }

    /// A masked client text frame.
    static func clientFrame(_ payload: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: payload)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
