import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Paddington
import PaddingtonCrypto

/// A raw TCP client for attacking and probing the listener byte by byte.
final class RawConnection: Sendable {
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = NIOLockedValueBox<[UInt8]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLockedValue { $0 += Array(buffer.readableBytesView) }
        }
    }

    let channel: any Channel
    private let collector: Collector

    /// Connects to 127.0.0.1:`port`. Each step of `script` is sent that long after the connection is up,
    /// timed on the event loop: a busy cooperative pool cannot delay it.
    init(
        port: Int, source: String? = nil, script: [(after: TimeAmount, bytes: [UInt8])] = [],
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        let collector = Collector()
        var bootstrap = ClientBootstrap(group: group)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port)
            .map { channel in
                for step in script {
                    channel.eventLoop.scheduleTask(in: step.after) {
                        channel.writeAndFlush(channel.allocator.buffer(bytes: step.bytes), promise: nil)
                    }
                }
                return channel
            }
            .get()
        self.collector = collector
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    var received: [UInt8] { collector.bytes.withLockedValue { $0 } }
    var receivedText: String { String(decoding: received, as: UTF8.self) }

    /// Waits until the server closes the connection; false on timeout.
    func waitForClose(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !channel.isActive { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return !channel.isActive
    }

    func waitForText(_ fragment: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if receivedText.contains(fragment) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    func close() async { try? await channel.close() }

    /// A WebSocket upgrade request with the salt headers masked for `keys`.
    static func upgradeRequest(keys: EnvelopeKeys, salts: ConnectionSalts = .generate(), extraHeaders: String = "") -> String {
        let values = salts.maskedHeaderValues(keys: keys)
        return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            + "openportal-inner-salt: \(values.inner)\r\nopenportal-outer-salt: \(values.outer)\r\n\(extraHeaders)\r\n"
    }

    /// A masked client WebSocket frame.
    static func frame(opcode: UInt8, payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        let mask: [UInt8] = [0x11, 0x22, 0x33, 0x44]
        if payload.count < 126 {
            out.append(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out.append(0x80 | 126)
            out += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            out.append(0x80 | 127)
            out += (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (8 * UInt64($0))) & 0xff) }
        }
        out += mask
        out += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return out
    }
}
