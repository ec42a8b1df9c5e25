import Testing
@testable import Paddington
import PaddingtonCrypto

/// The two protocol 2 handshake machines run against each other in memory with the vectors' inputs:
/// every byte they put on the wire must be the vectors', and the codecs they hand over must carry on
/// with the vectors' later frames.
@Suite("Protocol 2 handshake machines against the vectors")
struct ProtocolTwoMachineVectorTests {
    let f: V2MachineFixture

    init() throws { f = try V2MachineFixture() }

    /// The client rekeys after its third frame, as the vectors' frame n = 2 (type 0x80) says; the
    /// server never does within the vectors.
    static let clientRekey = ProtocolTwo.RekeyPolicy(frames: 3)

    @Test("the negotiated prologue of offer = select = 2 is the vectors' prologue")
    func prologue() throws {
        let server = try NegotiatedProtocol.server(headerValues: [f.v.offer_header], policy: .auto).get()
        let client = try NegotiatedProtocol.client(
            offered: NegotiatedProtocol.clientOffer(policy: .auto), selectionValues: [f.v.select_header], policy: .auto, server: "s")
        #expect(server.prologue == f.prologue)
        #expect(client.prologue == f.prologue)
        #expect(String(decoding: f.prologue, as: UTF8.self) == f.v.prologue_text)
    }

    @Test("back to back: messages 1 and 2 and both PeerDetails frames are the vectors' bytes")
    func handshake() throws {
        var client = try f.client(rekey: Self.clientRekey)
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server)
        #expect(run.unexpected.isEmpty, "\(run.unexpected)")
        #expect(run.polls.isEmpty)
        #expect(run.decisions == [PeerID(name: "echo-client", zone: "default")])

        #expect(run.clientToServer.count == 2)
        #expect(run.serverToClient.count == 2)
        #expect(run.clientToServer.first == f.msg1, "message 1")
        #expect(run.serverToClient.first == f.msg2, "message 2")
        // The first transport frame of each direction is PeerDetails, exactly as the vectors have it.
        let clientDetails = try #require(run.clientToServer.dropFirst().first)
        let serverDetails = try #require(run.serverToClient.dropFirst().first)
        #expect(clientDetails == f.clientFrame(0), "client PeerDetails: \(Self.describe(clientDetails, key: 0, f))")
        #expect(serverDetails == f.serverFrame(0), "server PeerDetails: \(Self.describe(serverDetails, key: 1, f))")

        let clientSession = try #require(run.client?.session, "client: \(String(describing: run.client))")
        let serverSession = try #require(run.server?.session, "server: \(String(describing: run.server))")
        #expect(clientSession.peerName == "echo-server" && clientSession.zone == "default" && clientSession.role == .client)
        #expect(serverSession.peerName == "echo-client" && serverSession.zone == "default" && serverSession.role == .server)
        #expect(clientSession.peerEngine == "swift-paddington" && clientSession.peerVersion == "0.2.0")
        #expect(serverSession.peerEngine == "swift-paddington" && serverSession.peerVersion == "0.2.0")
        #expect(clientSession.codec.protocolVersion == 2 && serverSession.codec.protocolVersion == 2)
        #expect(clientSession.protocolTwoCodec?.handshakeHash == V2MachineFixture.bytes(f.v.handshake_hash))
        #expect(serverSession.protocolTwoCodec?.handshakeHash == V2MachineFixture.bytes(f.v.handshake_hash))
        #expect(server.identifiedClient?.name == "echo-client")
    }

    /// What a frame that differs from the vectors' PeerDetails carries, for the failure message: it
    /// opens under the vectors' session keys (key 0: client → server, 1: server → client).
    static func describe(_ frame: [UInt8], key: Int, _ f: V2MachineFixture) -> String {
        let keyHex = key == 0
            ? "c6da1a47436f3165ee099127a63c019b31dce37a119984c2aff5b6122b92b640"
            : "6e48fc983678ea51d29580ced48fe060c4b1c4adb859dc9411bdb7f4fa5d7bbf"
        guard let secret = try? SecretKey(hex: keyHex) else { return "?" }
        var opener = ProtocolTwo.FrameOpener(key: secret)
        var bytes = frame
        guard let opened = try? opener.open(&bytes) else { return "does not open under the vectors' key" }
        let expected = key == 0 ? f.v.client_to_server[0].body_utf8 : f.v.server_to_client[0].body_utf8
        return "body \(String(decoding: bytes[opened.body], as: UTF8.self)), the vectors' \(expected)"
    }

    @Test("the established codecs seal the vectors' later frames and open each other's, across the rekey")
    func session() throws {
        var client = try f.client(rekey: Self.clientRekey)
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server)
        let clientCodec = try #require(run.client?.session?.protocolTwoCodec)
        let serverCodec = try #require(run.server?.session?.protocolTwoCodec)

        // Client → server: DATA n = 1, the last frame under the first key n = 2, the first under the new one n = 3.
        for n in 1...3 {
            let vector = f.v.client_to_server[n]
            let frame = try clientCodec.sealForTest(.bytes(Array(vector.body_utf8.utf8)))
            #expect(frame == f.clientFrame(n), "client → server frame \(n) (type \(vector.type))")
            #expect(try serverCodec.openForTest(f.clientFrame(n)) == .message(.bytes(Array(vector.body_utf8.utf8))))
        }
        // Server → client: DATA n = 1, then the Keepalive n = 2, which the application never sees.
        let data = f.v.server_to_client[1]
        #expect(try serverCodec.sealForTest(.text(data.body_utf8)) == f.serverFrame(1))
        #expect(try clientCodec.openForTest(f.serverFrame(1)) == .message(.bytes(Array(data.body_utf8.utf8))))
        #expect(try serverCodec.sealKeepaliveForTest() == f.serverFrame(2))
        #expect(try clientCodec.openForTest(f.serverFrame(2)) == .keepalive)

        // Both directions go on after the vectors.
        let more = try clientCodec.sealForTest(.text("after the vectors"))
        #expect(try serverCodec.openForTest(more) == .message(.bytes(Array("after the vectors".utf8))))
        let back = try serverCodec.sealForTest(.bytes([0, 255, 1]))
        #expect(try clientCodec.openForTest(back) == .message(.bytes([0, 255, 1])))
    }

    @Test("a replayed, reflected or text frame after the session start closes the link")
    func sessionRefusals() throws {
        var client = try f.client(rekey: Self.clientRekey)
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server)
        let serverCodec = try #require(run.server?.session?.protocolTwoCodec)
        let clientCodec = try #require(run.client?.session?.protocolTwoCodec)
        #expect(try serverCodec.openForTest(f.clientFrame(1)) == .message(.bytes(Array("Hello, World!".utf8))))
        // Replay of n = 1 where n = 2 is expected.
        #expect(throws: PaddingtonError.self) { try serverCodec.openForTest(f.clientFrame(1)) }
        // The client's own first frame reflected back to it (the other direction's key).
        #expect(throws: PaddingtonError.self) { try clientCodec.openForTest(f.clientFrame(1)) }
        // A text frame.
        var fresh = try f.client(rekey: Self.clientRekey)
        var freshServer = try f.server()
        let again = BackToBackRun.run(client: &fresh, server: &freshServer)
        let codec = try #require(again.server?.session?.protocolTwoCodec)
        let error = #expect(throws: PaddingtonError.self) { try codec.openForTest(f.clientFrame(1), opcode: .text) }
        #expect(error?.code == .protocolViolation)
    }

    @Test("message 1 made under a prologue without the offer does not open at the server")
    func strippedOffer() throws {
        var client = try f.client(prologue: ProtocolTwo.prologue(offer: "", select: f.v.select_header))
        let message1 = try #require(client.upgraded().sentFrames.first)
        #expect(message1 == V2MachineFixture.bytes(f.v.msg1_with_stripped_offer_prologue))
        var server = try f.server()
        let error = try #require(server.receive(message1).failure)
        #expect(error.code == .authenticationFailed)
        #expect(error.message.contains("2 tried: stranger@default, echo-client@default"), "\(error.message)")
        #expect(server.identifiedClient == nil)
    }

    @Test("a tampered message 2 fails the client's authentication")
    func tamperedMessage2() throws {
        var client = try f.client()
        _ = client.upgraded()
        var message2 = f.msg2
        message2[40] ^= 1
        let error = try #require(client.receive(message2).failure)
        #expect(error.code == .authenticationFailed)
        // A message of the wrong size is refused as well.
        var other = try f.client()
        _ = other.upgraded()
        #expect(other.receive(Array(f.msg2.prefix(47))).failure != nil)
    }

    @Test("message 1 that opens under no candidate, or of the wrong size, is refused before any frame is sent")
    func unknownMessage1() throws {
        var server = try f.server(candidates: [try f.clientEntry(keys: .generate())])
        let actions = server.receive(f.msg1)
        #expect(actions.sentFrames.isEmpty)
        #expect(actions.failure?.code == .authenticationFailed)
        var short = try f.server()
        let refused = short.receive(Array(f.msg1.prefix(47)))
        #expect(refused.sentFrames.isEmpty && refused.failure != nil)
    }

    @Test("trial decryption picks the first candidate in configuration order whose key opens message 1")
    func candidateOrder() throws {
        let twin = try f.clientEntry(name: "twin")
        var server = try f.server(candidates: [try f.clientEntry(name: "stranger", keys: .generate()), twin, try f.clientEntry()])
        _ = server.receive(f.msg1)
        #expect(server.identifiedClient?.name == "twin")
        #expect(server.identifiedPeer == PeerID(name: "twin", zone: "default"))
    }
}
