import NIOCore
import NIOPosix
import Testing

@testable import Paddington

/// Claims of accepted connections on real loopback sockets.
@Suite("ChannelClaim")
struct ChannelClaimTests {
    typealias Claim = ChannelClaim<ByteBuffer, ByteBuffer>

    /// A listener whose accepted connections arrive as claims, and one client connected to it.
    private static func connectedPair() async throws -> (claim: Claim, client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, server: any Channel) {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture { Claim(try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)) }
            }
        let port = try #require(server.channel.localAddress?.port)
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        let claim = try await server.executeThenClose { accepted -> Claim in
            var iterator = accepted.makeAsyncIterator()
            guard let claim = try await iterator.next() else { throw PaddingtonError(.transport, "nothing accepted") }
            return claim
        }
        return (claim, client, server.channel)
    }

    /// Whether the client's connection ends (EOF) within `timeout`, or stays open.
    private static func ends(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, within timeout: Duration) async throws -> Bool {
        try await client.executeThenClose { inbound, _ in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for try await _ in inbound {}
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                let ended = try await group.next() ?? false
                group.cancelAll()
                return ended
            }
        }
    }

    @Test("a claim nobody takes closes its connection when released (NIO would otherwise stop the process)")
    func untakenClaimCloses() async throws {
        var (claim, client, _): (Claim?, NIOAsyncChannel<ByteBuffer, ByteBuffer>, any Channel) = try await Self.connectedPair()
        #expect(claim != nil)
        claim = nil
        #expect(try await Self.ends(client, within: .seconds(10)))
    }

    @Test("the connection goes to the first taker only, and stays open while it runs it")
    func takenOnce() async throws {
        var (claim, client, _): (Claim?, NIOAsyncChannel<ByteBuffer, ByteBuffer>, any Channel) = try await Self.connectedPair()
        let taken = try #require(claim?.take())
        #expect(claim?.take() == nil)
        claim = nil
        try await taken.executeThenClose { _, _ in
            let ended = try await Self.ends(client, within: .milliseconds(300))
            #expect(!ended)
        }
    }
}
