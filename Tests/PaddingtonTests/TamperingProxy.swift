import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Paddington

/// A man in the middle on 127.0.0.1: a TCP proxy to a target port that can edit the header fields of
/// the first HTTP head in each direction (the WebSocket upgrade request and its response) and forwards
/// every other byte untouched, both ways. It keeps what each client sent, so that a test can replay it.
///
/// ```swift
/// let proxy = try await TamperingProxy.start(to: port, request: TamperingProxy.removing("openportal-protocol"))
/// // dial proxy.port instead of port
/// await proxy.stop()
/// ```
final class TamperingProxy: Sendable {
    /// Edits the header lines of a head (every line after the start line, without the CRLFs).
    typealias HeadEdit = @Sendable ([String]) -> [String]

    private struct State {
        var channels: [any Channel] = []
        /// The bytes each client sent, in connection order (the first 64 KiB).
        var sent: [[UInt8]] = []
        var editedRequests = 0
        var editedResponses = 0
    }

    private let server: LoopbackServer
    private let state: NIOLockedValueBox<State>

    /// The port it listens on, on 127.0.0.1.
    var port: Int { server.port }

    private init(server: LoopbackServer, state: NIOLockedValueBox<State>) {
        self.server = server
        self.state = state
    }

    /// Listens on 127.0.0.1 (a free port) and relays each connection to `targetPort` on 127.0.0.1,
    /// editing the request's head with `request` and the response's with `response`.
    static func start(to targetPort: Int, request: @escaping HeadEdit = { $0 }, response: @escaping HeadEdit = { $0 }) async throws -> TamperingProxy {
        let state = NIOLockedValueBox(State())
        let server = try await LoopbackServer.start(
            configure: { ChannelClaim(try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: $0)) },
            serve: { claim in
                guard let client = claim.take() else { return }
                await relay(client, to: targetPort, state: state, request: request, response: response)
            })
        return TamperingProxy(server: server, state: state)
    }

    /// Stops listening and closes every relayed connection.
    func stop() async {
        await server.stop(closing: state.withLockedValue { $0.channels })
    }

    /// What the `index`th client sent so far (nil before it connected).
    func sent(connection index: Int) -> [UInt8]? {
        state.withLockedValue { $0.sent.indices.contains(index) ? $0.sent[index] : nil }
    }

    /// How many connections the proxy has accepted.
    var connections: Int {
        state.withLockedValue { $0.sent.count }
    }

    /// How many request heads and response heads the edits changed.
    var edits: (requests: Int, responses: Int) {
        state.withLockedValue { ($0.editedRequests, $0.editedResponses) }
    }

    // MARK: Edits

    /// Removes every field named `name`.
    static func removing(_ name: String) -> HeadEdit {
        { lines in lines.filter { !isField($0, named: name) } }
    }

    /// Gives every field named `name` the value `value`.
    static func replacing(_ name: String, with value: String) -> HeadEdit {
        { lines in lines.map { isField($0, named: name) ? "\(name): \(value)" : $0 } }
    }

    /// Adds the field `name: value` at the end.
    static func adding(_ name: String, _ value: String) -> HeadEdit {
        { lines in lines + ["\(name): \(value)"] }
    }

    private static func isField(_ line: String, named name: String) -> Bool {
        line.lowercased().hasPrefix(name.lowercased() + ":")
    }

    // MARK: Relaying


    private static func relay(
        _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, to targetPort: Int, state: NIOLockedValueBox<State>,
        request: @escaping HeadEdit, response: @escaping HeadEdit
    ) async {
        let index = state.withLockedValue { state in
            state.channels.append(client.channel)
            state.sent.append([])
            return state.sent.count - 1
        }
        let upstream: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: targetPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            try? await client.executeThenClose { _, _ in }
            return
        }
        state.withLockedValue { $0.channels.append(upstream.channel) }
        try? await client.executeThenClose { clientIn, clientOut in
            try await upstream.executeThenClose { upstreamIn, upstreamOut in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try? await pump(clientIn, to: upstreamOut, edit: request) { buffer in
                            state.withLockedValue { state in
                                if state.sent[index].count < 65536 { state.sent[index] += buffer.readableBytesView }
                            }
                        } edited: {
                            state.withLockedValue { $0.editedRequests += 1 }
                        }
                    }
                    group.addTask {
                        try? await pump(upstreamIn, to: clientOut, edit: response) { _ in } edited: {
                            state.withLockedValue { $0.editedResponses += 1 }
                        }
                    }
                    // When either side is done, so is the relay.
                    await group.next()
                    client.channel.close(promise: nil)
                    upstream.channel.close(promise: nil)
                }
            }
        }
    }

    /// Copies `inbound` to `outbound`; the first HTTP head goes through `edit`.
    private static func pump(
        _ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, to outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        edit: HeadEdit, capture: (ByteBuffer) -> Void, edited: () -> Void
    ) async throws {
        var head: [UInt8]? = []  // nil once the head has gone through
        for try await buffer in inbound {
            capture(buffer)
            guard var pending = head else {
                try await outbound.write(buffer)
                continue
            }
            pending += buffer.readableBytesView
            guard let end = pending.firstRange(of: RawHTTPHead.terminator) else {
                head = pending
                continue
            }
            var lines = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
                .split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
            let start = lines.removeFirst()
            let fields = edit(lines)
            if fields != lines { edited() }
            let rewritten = Array(([start] + fields).joined(separator: "\r\n").utf8) + RawHTTPHead.terminator
            try await outbound.write(ByteBuffer(bytes: rewritten + pending[end.upperBound...]))
            head = nil
        }
    }
}
