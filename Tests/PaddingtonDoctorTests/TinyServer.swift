import NIOCore
import NIOPosix

/// A plain TCP server on 127.0.0.1 that is not a paddington service: it greets each connection with
/// fixed bytes (or says nothing), or closes it at once.
struct TinyServer {
    enum Behaviour: Sendable {
        case greet([UInt8])
        case silent
        case close
    }

    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    static func start(_ behaviour: Behaviour) async throws -> TinyServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Greeter(behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return TinyServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }

    final class Greeter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let behaviour: Behaviour

        init(behaviour: Behaviour) { self.behaviour = behaviour }

        func channelActive(context: ChannelHandlerContext) {
            switch behaviour {
            case .greet(let bytes): context.writeAndFlush(NIOAny(ByteBuffer(bytes: bytes)), promise: nil)
            case .silent: break
            case .close: context.close(promise: nil)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    }
}
