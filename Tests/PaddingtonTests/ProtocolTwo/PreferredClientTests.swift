import Logging
import PaddingtonCrypto
import Testing
@testable import Paddington

@Suite("Trial decryption order")
struct PreferredClientTests {
    static func configuration(sharedKeys: Bool) throws -> ServiceConfiguration {
        var config = try ServiceConfiguration(name: "server", ip: "127.0.0.1", port: 0)
        let anywhere = try IPAllowance(parsing: "127.0.0.1")
        let shared = EnvelopeKeys.generate()
        try config.admitClient("first", allowing: anywhere, keys: sharedKeys ? shared : .generate())
        try config.admitClient("second", allowing: anywhere, keys: sharedKeys ? shared : .generate())
        return config
    }

    @Test("the client that last authenticated from an address is tried first only when no two clients share keys")
    func preferredOnlyWhenDistinct() throws {
        let address = try #require(IPAddress("127.0.0.1"))
        for shared in [false, true] {
            let core = MeshCore(
                configuration: try Self.configuration(sharedKeys: shared), options: MeshConfiguration(), inboundInterceptors: [],
                outboundInterceptors: [], eventLoopGroup: .singletonMultiThreadedEventLoopGroup, logger: Logger(label: "test"))
            core.registry.authenticated(PeerID(name: "second"), from: address)
            #expect(core.clientKeys.keysAreDistinct == !shared)
            #expect(core.preferredClient(from: address, keys: core.clientKeys) == (shared ? nil : PeerID(name: "second")))
        }
    }

    @Test("protocol 2: the preferred client is tried first, and found when its key opens message 1")
    func preferredFirst() throws {
        let config = try Self.configuration(sharedKeys: false)
        let keys = config.clients.map { ProtocolTwo.psk(from: $0.keys) }
        let prologue = ProtocolTwo.prologue(offer: "2", select: "2")
        for (client, preferred) in [(1, "second"), (1, "first"), (0, "second")] {
            var initiator = try NoiseInitiator(psk: keys[client], prologue: prologue)
            let message1 = try initiator.writeMessage1()
            var server = ProtocolTwoServerHandshake(
                localName: "server", clients: config.clients, keys: keys, address: IPAddress("127.0.0.1"),
                preferred: PeerID(name: preferred), prologue: prologue, identity: EngineIdentity())
            guard case .sendBinary? = server.receive(message1).first else {
                Issue.record("message 1 of \(config.clients[client].name) was refused with \(preferred) preferred")
                continue
            }
            #expect(server.identifiedPeer?.name == config.clients[client].name)
        }
    }
}
