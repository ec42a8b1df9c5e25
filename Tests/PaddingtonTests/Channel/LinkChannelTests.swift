import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import PaddingtonCrypto
import Testing
@testable import Paddington

/// The link's controller and codec on a test channel with virtual time: the effects of the state
/// machine become frames written and channels closed.
@Suite("Link (channel)")
struct LinkChannelTests {
    static let configuration = LinkStateMachine<LinkController.Waiter>.Configuration(
        budgetBytes: 1 << 20, idleTimeout: .seconds(30), keepaliveInterval: .seconds(10), closeTimeout: .seconds(2),
        stepTimeout: .seconds(5))

    static func embedded() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func closeCode(_ frame: WebSocketFrame) -> WebSocketErrorCode? {
        var data = frame.data
        return data.readWebSocketErrorCode()
    }

    static let keys = EnvelopeKeys.generate()
    static let salts = ConnectionSalts.generate()

    static func session() -> EstablishedSession {
        EstablishedSession(
            peerName: "peer", zone: "default", peerEngine: "swift-paddington", peerVersion: "test", role: .server,
            codec: ProtocolOneCodec(keys: keys, salts: salts))
    }

    @Test("a handshake step past its limit closes the channel and is known as a timeout")
    func stepTimeout() throws {
        let channel = try Self.embedded()
        let controller = LinkController(channel: channel, configuration: Self.configuration)
        controller.armStep()
        channel.embeddedEventLoop.advanceTime(by: .seconds(4))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
        #expect(controller.stepTimedOut)
    }

    @Test("closing writes the Close at once when nothing is in flight: 1000, or 1001 at shutdown", arguments: [
        (PaddingtonError.Code.connectionClosed, WebSocketErrorCode.normalClosure), (.shutdown, .goingAway),
    ])
    func closeFrame(code: PaddingtonError.Code, expected: WebSocketErrorCode) throws {
        let channel = try Self.embedded()
        let controller = LinkController(channel: channel, configuration: Self.configuration)
        controller.established {}
        controller.close(reason: PaddingtonError(code, "bye"))
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        #expect(Self.closeCode(close) == expected)
        // The peer stays silent: the socket is shut after the close timeout.
        controller.waiting()
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }

    @Test("a keepalive is sent when nothing was sent for the interval; a silent peer is dropped at the idle limit")
    func keepaliveAndIdle() throws {
        let channel = try Self.embedded()
        let controller = LinkController(channel: channel, configuration: Self.configuration)
        let keepalives = NIOLockedValueBox(0)
        controller.established { keepalives.withLockedValue { $0 += 1 } }
        controller.waiting()
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(keepalives.withLockedValue { $0 } == 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(keepalives.withLockedValue { $0 } == 2)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(!channel.isActive)
        #expect(controller.closeReason?.code == .timeout)
    }

    @Test("a link seals with its codec, and the frame opens under the same keys; the Close follows the frames accepted")
    func sendAndClose() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        let controller = LinkController(channel: channel, configuration: Self.configuration)
        let link = Link(session: Self.session(), controller: controller, maxFrameSize: 1 << 20)
        try await link.send(.text("hello"))
        try await link.send(.bytes(Array("wörld".utf8)))
        link.close(reason: PaddingtonError(.connectionClosed, "done"))
        let peer = ProtocolOneCodec(keys: Self.keys, salts: Self.salts)
        let first = try await channel.waitForOutboundWrite(as: WebSocketFrame.self)
        let second = try await channel.waitForOutboundWrite(as: WebSocketFrame.self)
        let close = try await channel.waitForOutboundWrite(as: WebSocketFrame.self)
        #expect(try peer.open(first) == .message(.text("hello")))
        #expect(try peer.open(second) == .message(.text("wörld")))
        #expect(close.opcode == .connectionClose)
        await #expect(throws: PaddingtonError.self) { try await link.send(.text("late")) }
        _ = try? await channel.finish()
    }

    @Test("protocol 1 refuses what it cannot carry, before anything is written")
    func protocolOneRefusals() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1))
        let link = Link(session: Self.session(), controller: LinkController(channel: channel, configuration: Self.configuration),
                        maxFrameSize: 2000)
        for (payload, code) in [
            (Payload.text(""), PaddingtonError.Code.invalidArgument), (.text("KEEPALIVE"), .invalidArgument),
            (.bytes([0xff, 0xfe]), .invalidArgument), (.text(String(repeating: "x", count: 500)), .payloadTooLarge),
        ] {
            await #expect { try await link.send(payload) } throws: { ($0 as? PaddingtonError)?.code == code }
        }
        // Nothing was written, and the link still works.
        try await link.send(.text("fine"))
        let frame = try await channel.waitForOutboundWrite(as: WebSocketFrame.self)
        #expect(try ProtocolOneCodec(keys: Self.keys, salts: Self.salts).open(frame) == .message(.text("fine")))
        _ = try? await channel.finish()
    }

    @Test("the codec keeps keepalives to itself and refuses other frame types")
    func codecFrames() throws {
        let codec = ProtocolOneCodec(keys: Self.keys, salts: Self.salts)
        let allocator = ByteBufferAllocator()
        guard case .sealed(let keepalive) = codec.prepareKeepalive(allocator: allocator).content else {
            Issue.record("protocol 1 seals when it prepares")
            return
        }
        #expect(try codec.open(keepalive) == .keepalive)
        #expect(throws: PaddingtonError.self) { try codec.open(WebSocketFrame(fin: true, opcode: .binary, data: keepalive.data)) }
    }
}
