import Foundation
import NIOCore
import NIOPosix
import Paddington
import PaddingtonCrypto

/// Sends one WebSocket upgrade request, as the dialler would (with the salt headers and the protocol
/// offer), reads the status line of the answer, and closes: no handshake frame is sent.
struct UpgradeProbe {
    /// What came back.
    enum Answer: Sendable, Equatable {
        /// An HTTP status line.
        case status(Int, String)
        /// Bytes that are not HTTP (the first few, printable).
        case notHTTP(String)
        /// The connection closed before a complete status line.
        case closed
        /// Nothing within the limit.
        case silent
    }

    /// Connects to `address:port`, asks `url` for an upgrade, and waits up to `timeout` for the answer.
    ///
    /// - Throws: the connect failure.
    static func probe(address: String, port: Int, url: WebSocketURL, keys: EnvelopeKeys, offer: String?, timeout: Duration) async throws -> Answer {
        let host = url.host.contains(":") ? "[\(url.host)]" : url.host
        var request = "GET \(url.path.isEmpty ? "/" : url.path) HTTP/1.1\r\nHost: \(host):\(url.port)\r\n"
        request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        request += "Sec-WebSocket-Key: \(Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())\r\n"
        let salts = ConnectionSalts.generate().maskedHeaderValues(keys: keys)
        request += "\(ConnectionSalts.innerHeaderName): \(salts.inner)\r\n\(ConnectionSalts.outerHeaderName): \(salts.outer)\r\n"
        if let offer { request += "\(ProtocolOffer.headerName): \(offer)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        let target = try SocketAddress(ipAddress: address, port: port)
        let answer = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout.timeAmount)
            .connect(to: target) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let promise = channel.eventLoop.makePromise(of: UpgradeProbe.Answer.self)
                    try channel.pipeline.syncOperations.addHandler(StatusLineReader(request: bytes, timeout: timeout, promise: promise))
                    return promise.futureResult
                }
            }
        return try await answer.get()
    }

}

/// Writes the request when the connection is up and completes ``answer`` with the first status line,
/// whatever else arrives, a close, or the limit; then closes the connection.
final class StatusLineReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private let request: [UInt8]
    private let timeout: Duration
    private var received: [UInt8] = []
    private var promise: EventLoopPromise<UpgradeProbe.Answer>?
    private var timer: Scheduled<Void>?

    init(request: [UInt8], timeout: Duration, promise: EventLoopPromise<UpgradeProbe.Answer>) {
        self.request = request
        self.timeout = timeout
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout.timeAmount) {
            let (handler, context) = loopBound.value
            handler.finish(.silent, context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(ByteBuffer(bytes: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received += buffer.readBytes(length: buffer.readableBytes) ?? []
        let prefix = Array("HTTP/".utf8)
        if received.count >= prefix.count, Array(received.prefix(prefix.count)) != prefix {
            finish(.notHTTP(Self.printable(received.prefix(32))), context: context)
            return
        }
        guard let end = Self.lineEnd(received) else {
            if received.count > 8192 { finish(.notHTTP(Self.printable(received.prefix(32))), context: context) }
            return
        }
        let line = String(decoding: received[..<end], as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let code = Int(parts[1]) else {
            finish(.notHTTP(Self.printable(received.prefix(32))), context: context)
            return
        }
        finish(.status(code, parts.count > 2 ? String(parts[2]) : ""), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.closed, context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.closed, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(.closed, context: context)
    }

    private func finish(_ answer: UpgradeProbe.Answer, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        guard let promise else { return }
        self.promise = nil
        promise.succeed(answer)
        context.close(promise: nil)
    }

    private static func lineEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for index in 0..<(bytes.count - 1) where bytes[index] == 13 && bytes[index + 1] == 10 { return index }
        return nil
    }

    private static func printable(_ bytes: ArraySlice<UInt8>) -> String {
        String(bytes.map { (32...126).contains($0) ? Character(UnicodeScalar($0)) : "." })
    }
}
