import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing
@testable import Paddington

/// The control handler in an EmbeddedChannel: frames in, frames out, no sockets.
@Suite("WebSocket control handler (channel)")
struct WebSocketControlHandlerTests {
    static func channel(isClient: Bool) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: WebSocketControlHandler(isClient: isClient))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func frame(_ opcode: WebSocketOpcode, _ text: String = "", mask: WebSocketMaskingKey? = nil) -> WebSocketFrame {
        var data = ByteBuffer(string: text)
        if let mask { data.webSocketMask(mask) }
        return WebSocketFrame(fin: true, opcode: opcode, maskKey: mask, data: data)
    }

    static func closeCode(_ frame: WebSocketFrame) -> WebSocketErrorCode? {
        var data = frame.unmaskedData
        return data.readWebSocketErrorCode()
    }

    @Test("a Ping is answered with a Pong carrying its data, and reported inbound (liveness)")
    func ping() throws {
        let channel = try Self.channel(isClient: false)
        try channel.writeInbound(Self.frame(.ping, "are you there"))
        let pong = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(pong.opcode == .pong)
        #expect(String(buffer: pong.unmaskedData) == "are you there")
        #expect(try channel.readInbound(as: WebSocketFrame.self)?.opcode == .ping)
        _ = try channel.finish()
    }

    @Test("a client masks every frame it writes; a server masks none")
    func masking() throws {
        let client = try Self.channel(isClient: true)
        try client.writeOutbound(Self.frame(.text, "hello"))
        let masked = try #require(try client.readOutbound(as: WebSocketFrame.self))
        // The frame carries its key; NIO's frame encoder applies it to the bytes on the wire.
        #expect(masked.maskKey != nil)
        #expect(String(buffer: masked.data) == "hello")
        _ = try client.finish()

        let server = try Self.channel(isClient: false)
        try server.writeOutbound(Self.frame(.text, "hello"))
        #expect(try server.readOutbound(as: WebSocketFrame.self)?.maskKey == nil)
        _ = try server.finish()
    }

    @Test("a masked data frame is passed on unmasked")
    func unmasking() throws {
        let channel = try Self.channel(isClient: false)
        try channel.writeInbound(Self.frame(.text, "secret", mask: WebSocketMaskingKey([1, 2, 3, 4])))
        let frame = try #require(try channel.readInbound(as: WebSocketFrame.self))
        #expect(frame.maskKey == nil)
        #expect(String(buffer: frame.data) == "secret")
        _ = try channel.finish()
    }

    @Test("the peer's Close is passed on, not answered; our Close then completes the handshake and closes")
    func closeHandshake() throws {
        let channel = try Self.channel(isClient: false)
        var code = ByteBuffer()
        code.write(webSocketErrorCode: .goingAway)
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))
        let forwarded = try #require(try channel.readInbound(as: WebSocketFrame.self))
        #expect(forwarded.opcode == .connectionClose)
        #expect(Self.closeCode(forwarded) == .goingAway)
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        #expect(channel.isActive)

        var ours = ByteBuffer()
        ours.write(webSocketErrorCode: .normalClosure)
        try channel.writeOutbound(WebSocketFrame(fin: true, opcode: .connectionClose, data: ours))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test("after our Close, data frames are refused; a second Close is not written")
    func nothingAfterClose() throws {
        let channel = try Self.channel(isClient: true)
        try channel.writeOutbound(Self.frame(.connectionClose))
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.opcode == .connectionClose)
        let late = channel.writeAndFlush(Self.frame(.text, "late"))
        channel.embeddedEventLoop.run()
        #expect(throws: ChannelError.self) { try late.wait() }
        try channel.writeOutbound(Self.frame(.connectionClose))
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        _ = try? channel.finish()
    }

    @Test("a framing error is answered with the matching Close code, passed on, and closes the channel",
          arguments: [(NIOWebSocketError.invalidFrameLength, WebSocketErrorCode.messageTooLarge),
                      (.fragmentedControlFrame, .protocolError), (.multiByteControlFrameLength, .protocolError)])
    func framingError(error: NIOWebSocketError, expected: WebSocketErrorCode) throws {
        let channel = try Self.channel(isClient: false)
        channel.pipeline.fireErrorCaught(error)
        #expect(throws: NIOWebSocketError.self) { try channel.throwIfErrorCaught() }
        let close = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(close.opcode == .connectionClose)
        #expect(Self.closeCode(close) == expected)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}
