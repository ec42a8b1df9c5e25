import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
@testable import Paddington
import PaddingtonCrypto

/// A misbehaving protocol 1 server on 127.0.0.1 for one invitation's keys: it answers every upgrade
/// with a `101` that carries no `openportal-protocol` selection, opens the client's frame 1, and answers
/// with a frame 2 whose `Handshake` JSON ends with `marker` (e.g. `,"protocols":[2]`), as a server that
/// supports protocol 2 would after its selection was stripped. It then only records what comes in.
///
/// No server of ours can send that frame 2 to a client that offered (it refuses the client's own
/// marker first), so this is how the client's side of the downgrade check is reached.
final class FakeProtocolOneServer: Sendable {
    private struct State {
        /// The `Handshake` JSON of each client's frame 1.
        var hellos: [String] = []
        /// Text frames received after frame 1, over all connections.
        var laterFrames = 0
        var channels: [any Channel] = []
    }

    private let server: LoopbackServer
    private let state: NIOLockedValueBox<State>

    /// The port it listens on, on 127.0.0.1.
    var port: Int { server.port }

    private init(server: LoopbackServer, state: NIOLockedValueBox<State>) {
        self.server = server
        self.state = state
    }

    /// What the clients sent: their frame 1 JSON, and how many text frames followed it.
    var received: (hellos: [String], laterFrames: Int) {
        state.withLockedValue { ($0.hellos, $0.laterFrames) }
    }

    static func start(keys: EnvelopeKeys, marker: String) async throws -> FakeProtocolOneServer {
        let state = NIOLockedValueBox(State())
        let server = try await LoopbackServer.start(
            configure: { try configure($0) },
            serve: { await serve($0, keys: keys, marker: marker, state: state) })
        return FakeProtocolOneServer(server: server, state: state)
    }

    func stop() async {
        await server.stop(closing: state.withLockedValue { $0.channels })
    }

    private typealias Upgraded = (ChannelClaim<WebSocketFrame, WebSocketFrame>, ConnectionSalts)?

    private static func configure(_ channel: any Channel) throws -> EventLoopFuture<Upgraded> {
        let upgrader = NIOTypedWebSocketServerUpgrader<Upgraded>(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let salts = try ConnectionSalts.parseHeaders(
                        innerHeader: head.headers.first(name: ConnectionSalts.innerHeaderName),
                        outerHeader: head.headers.first(name: ConnectionSalts.outerHeaderName))
                    return (ChannelClaim(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)), salts)
                }
            })
        let configuration = NIOTypedHTTPServerUpgradeConfiguration<Upgraded>(
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.close(promise: nil)
                return channel.eventLoop.makeSucceededFuture(nil)
            })
        return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
            configuration: .init(upgradeConfiguration: configuration))
    }

    private static func serve(
        _ upgrade: EventLoopFuture<Upgraded>, keys: EnvelopeKeys, marker: String, state: NIOLockedValueBox<State>
    ) async {
        guard let (claim, masked) = try? await upgrade.get(), let ws = claim.take() else { return }
        state.withLockedValue { $0.channels.append(ws.channel) }
        let salts = ConnectionSalts.unmask(masked, keys: keys)
        try? await ws.executeThenClose { inbound, outbound in
            var frames = inbound.makeAsyncIterator()
            guard let frame1 = try await frames.next(), frame1.opcode == .text else { return }
            let json = try Envelope.open(Array(buffer: frame1.unmaskedData), keys: keys, salts: salts)
            state.withLockedValue { $0.hellos.append(String(decoding: json, as: UTF8.self)) }
            let hello = try WireMessage.Hello.decode(json)
            var reply = WireMessage.Hello(sessionKey: SecretKey.generate(), engine: "fake", version: "0").json()
            reply.removeLast()  // the closing brace
            reply += Array(marker.utf8) + [UInt8(ascii: "}")]
            let sealed = Envelope.seal(reply, keys: EnvelopeKeys(inner: keys.inner, outer: hello.sessionKey), salts: salts)
            try await outbound.write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: sealed)))
            while let frame = try await frames.next() {
                if frame.opcode == .text { state.withLockedValue { $0.laterFrames += 1 } }
                if frame.opcode == .connectionClose { return }
            }
        }
    }
}
