import Foundation
import NIOCore
import NIOPosix
import Paddington

/// A connection to a running agent's control socket: sends ``ControlRequest``s and reads their
/// ``ControlResponse``s, in order.
///
/// ```swift
/// try await ControlClient.withConnection(path: ControlPath.default(for: "portal")) { client in
///     let status = try await client.send(ControlRequest(command: "status"))
/// }
/// ```
public final class ControlClient {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var splitter = LineSplitter(maxLineBytes: 16 << 20)
    private var lines: [[UInt8]] = []

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// Connects to the socket at `path`, runs `body`, and closes the connection.
    ///
    /// - Throws: `PaddingtonError.Code.transport` when nothing serves the path; what `body` throws.
    public static func withConnection<Result: Sendable>(
        path: String, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (ControlClient) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup).connect(unixDomainSocketPath: path) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        } catch {
            throw PaddingtonError(.transport, "no agent answers on the control socket \(path) (is `paddington run` running, with this --control?)", cause: error)
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(ControlClient(inbound: inbound, outbound: outbound))
        }
    }

    /// Sends one command and returns its response.
    ///
    /// - Throws: `PaddingtonError.Code.connectionClosed` when the agent closes the connection first,
    ///   `PaddingtonError.Code.invalidJSON` for a response that is not one.
    public func send(_ request: ControlRequest) async throws -> ControlResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(request)
        line.append(UInt8(ascii: "\n"))
        return try await sendRaw(Array(line))
    }

    /// Sends raw bytes (tests of what the agent does with garbage) and returns the response.
    public func sendRaw(_ bytes: [UInt8]) async throws -> ControlResponse {
        do {
            try await outbound.write(ByteBuffer(bytes: bytes))
        } catch {
            throw PaddingtonError(.connectionClosed, "the agent closed the control connection", cause: error)
        }
        return try await response()
    }

    private func response() async throws -> ControlResponse {
        while lines.isEmpty {
            let buffer: ByteBuffer?
            do {
                buffer = try await inbound.next()
                handOffFromEventLoop()
            } catch {
                throw PaddingtonError(.connectionClosed, "the control connection failed", cause: error)
            }
            guard let buffer else { throw PaddingtonError(.connectionClosed, "the agent closed the control connection") }
            let (complete, tooLong) = splitter.append(buffer)
            lines = complete
            if lines.isEmpty, let tooLong { throw tooLong }
        }
        let line = lines.removeFirst()
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(ControlResponse.self, from: Data(line))
        } catch {
            throw PaddingtonError(.invalidJSON, "the agent's response is not a control response", cause: error)
        }
    }
}
