import Foundation
import NIOCore
import NIOWebSocket
import Testing
@testable import Paddington
import PaddingtonCrypto

/// The protocol 2 vectors (`shared/protocol/vectors/paddington-v2-vectors.json`, copied under
/// PaddingtonCryptoTests/Fixtures/) in the setting the handshake machines need: the vectors' keys as
/// an invitation between `echo-client` and `echo-server` in zone `default`, engine `swift-paddington`
/// version `0.2.0`, and the fixed ephemeral keys.
struct V2MachineFixture {
    struct Frame: Decodable {
        let n: Int
        let type: UInt8
        let body_utf8: String
        let plaintext: String
        let frame: String
    }

    struct Vectors: Decodable {
        let psk_inner, psk_outer, psk_v2, offer_header, select_header, prologue, prologue_text: String
        let initiator_ephemeral_private, responder_ephemeral_private: String
        let msg1, msg2, handshake_hash, msg1_with_stripped_offer_prologue: String
        let client_to_server, server_to_client: [Frame]
    }

    let v: Vectors
    let keys: EnvelopeKeys
    let identity = EngineIdentity(engine: "swift-paddington", version: "0.2.0")

    init() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../PaddingtonCryptoTests/Fixtures/paddington-v2-vectors.json").standardized
        v = try JSONDecoder().decode(Vectors.self, from: try Data(contentsOf: url))
        keys = EnvelopeKeys(inner: try SecretKey(hex: v.psk_inner), outer: try SecretKey(hex: v.psk_outer))
    }

    static func bytes(_ hex: String) -> [UInt8] { Hex.decode(hex) ?? [] }

    var msg1: [UInt8] { Self.bytes(v.msg1) }
    var msg2: [UInt8] { Self.bytes(v.msg2) }
    var prologue: [UInt8] { Self.bytes(v.prologue) }
    func clientFrame(_ n: Int) -> [UInt8] { Self.bytes(v.client_to_server[n].frame) }
    func serverFrame(_ n: Int) -> [UInt8] { Self.bytes(v.server_to_client[n].frame) }
    var initiatorEphemeral: SecretKey { get throws { try SecretKey(hex: v.initiator_ephemeral_private) } }
    var responderEphemeral: SecretKey { get throws { try SecretKey(hex: v.responder_ephemeral_private) } }
    var psk: SecretKey { ProtocolTwo.psk(from: keys) }

    func serverEntry(name: String = "echo-server", zone: String = "default", policy: ProtocolPolicy? = nil) throws -> ServerEntry {
        ServerEntry(name: name, url: try WebSocketURL(parsing: "ws://127.0.0.1:6501/"), zone: zone, keys: keys, protocolPolicy: policy)
    }

    func clientEntry(name: String = "echo-client", zone: String = "default", keys: EnvelopeKeys? = nil, policy: ProtocolPolicy? = nil) throws -> ClientEntry {
        ClientEntry(name: name, allowance: try IPAllowance(parsing: "127.0.0.1"), zone: zone, keys: keys ?? self.keys, protocolPolicy: policy)
    }

    /// The client machine of the vectors (or with one thing changed).
    func client(
        localName: String = "echo-client", server: ServerEntry? = nil, prologue: [UInt8]? = nil,
        rekey: ProtocolTwo.RekeyPolicy = ProtocolTwo.RekeyPolicy()
    ) throws -> ProtocolTwoClientHandshake {
        try ProtocolTwoClientHandshake(
            localName: localName, server: try server ?? serverEntry(), identity: identity, prologue: prologue ?? self.prologue,
            rekey: rekey, ephemeralPrivateKey: try initiatorEphemeral)
    }

    /// The server machine of the vectors (or with one thing changed); `candidates` defaults to a
    /// stranger then `echo-client`, so that trial decryption has to pass over a wrong key.
    func server(
        localName: String = "echo-server", candidates: [ClientEntry]? = nil, servicePolicy: ProtocolPolicy = .auto,
        prologue: [UInt8]? = nil, rekey: ProtocolTwo.RekeyPolicy = ProtocolTwo.RekeyPolicy()
    ) throws -> ProtocolTwoServerHandshake {
        let candidates = try candidates ?? [try clientEntry(name: "stranger", keys: .generate()), try clientEntry()]
        return ProtocolTwoServerHandshake(
            localName: localName, clients: candidates, keys: candidates.map { ProtocolTwo.psk(from: $0.keys) },
            prologue: prologue ?? self.prologue, identity: identity, servicePolicy: servicePolicy, rekey: rekey,
            ephemeralPrivateKey: try responderEphemeral)
    }

    /// A client that is not the machine: message 1 under the vectors' ephemeral key, then frames sealed
    /// by hand with the session `server` answers with. Returns the peer and the server's actions.
    func handMadeClient(against server: inout ProtocolTwoServerHandshake) throws -> HandMadeV2Peer {
        var initiator = try NoiseInitiator(psk: psk, prologue: prologue, ephemeralPrivateKey: try initiatorEphemeral)
        let message1 = try initiator.writeMessage1()
        let reply = server.receive(message1)
        guard let message2 = reply.sentFrames.first, reply.count == 1 else {
            throw PaddingtonError(.protocolViolation, "expected message 2, got \(reply)")
        }
        return HandMadeV2Peer(try initiator.readMessage2(message2))
    }

    /// A server that is not the machine: it opens the client's message 1 and answers with message 2;
    /// returns the peer and the client's actions for message 2, whose frame (the client's PeerDetails)
    /// the peer has opened (``HandMadeV2Peer/received``).
    func handMadeServer(against client: inout ProtocolTwoClientHandshake) throws -> (HandMadeV2Peer, [HandshakeAction]) {
        let start = client.upgraded()
        guard let message1 = start.sentFrames.first,
            var responder = try NoiseResponder.open(
                message1: message1, candidates: [psk], prologue: prologue, ephemeralPrivateKey: try responderEphemeral)
        else {
            throw PaddingtonError(.protocolViolation, "message 1 did not open: \(start)")
        }
        let message2 = try responder.writeMessage2()
        let peer = HandMadeV2Peer(try responder.finish())
        let actions = client.receive(message2)
        for frame in actions.sentFrames { _ = try peer.open(frame) }
        return (peer, actions)
    }

    /// `{"PeerDetails":{…}}` with any field changed; nil leaves a field out.
    static func peerDetailsJSON(
        name: String = "echo-client", zone: String = "default", version: String = "2",
        standby: String = #"{"server_is_secondary":false,"client_is_secondary":false}"#,
        engine: String? = #""swift-paddington""#, engineVersion: String? = #""0.2.0""#
    ) -> String {
        var fields = [#""name":"\#(name)""#, #""zone":"\#(zone)""#, #""version":\#(version)"#, #""standby_status":\#(standby)"#]
        if let engine { fields.append(#""engine":\#(engine)"#) }
        if let engineVersion { fields.append(#""engine_version":\#(engineVersion)"#) }
        return #"{"PeerDetails":{"# + fields.joined(separator: ",") + "}}"
    }
}

/// One side of a protocol 2 session made without the machines (NoiseInitiator or NoiseResponder
/// directly), so that tests can send frames the machines would never produce.
final class HandMadeV2Peer {
    var sealer: ProtocolTwo.FrameSealer
    var opener: ProtocolTwo.FrameOpener
    let handshakeHash: [UInt8]
    /// The bodies of the frames opened so far.
    private(set) var received: [String] = []

    init(_ session: consuming ProtocolTwo.Session) {
        handshakeHash = session.handshakeHash
        sealer = session.sealer
        opener = session.opener
    }

    /// The next frame, sealed.
    func seal(_ type: ProtocolTwo.FrameType, _ body: [UInt8], last: Bool = false) throws -> [UInt8] {
        try sealer.seal(type, body: body, isLastUnderKey: last)
    }

    /// The next frame, a CONTROL frame carrying `json`.
    func control(_ json: String) throws -> [UInt8] {
        try seal(.control, Array(json.utf8))
    }

    /// Opens the peer's next frame: its type and body as text.
    func open(_ frame: [UInt8]) throws -> (ProtocolTwo.FrameType, String) {
        var bytes = frame
        let opened = try opener.open(&bytes)
        let body = String(decoding: bytes[opened.body], as: UTF8.self)
        received.append(body)
        return (opened.type, body)
    }

    /// Opens the peer's next frame, which must be CONTROL: its body as text.
    func openControl(_ frame: [UInt8]) throws -> String {
        let (type, body) = try open(frame)
        guard type == .control else { throw PaddingtonError(.protocolViolation, "expected CONTROL, got \(type): \(body)") }
        return body
    }
}

/// How a machine's handshake ended in a back-to-back run.
enum V2Outcome {
    case established(EstablishedSession)
    case failed(PaddingtonError)

    var session: EstablishedSession? {
        if case .established(let session) = self { return session }
        return nil
    }

    var error: PaddingtonError? {
        if case .failed(let error) = self { return error }
        return nil
    }
}

/// The record of two machines run against each other in memory.
struct BackToBackRun {
    var clientToServer: [[UInt8]] = []
    var serverToClient: [[UInt8]] = []
    var client: V2Outcome?
    var server: V2Outcome?
    /// Standby waits the client asked for.
    var polls: [Duration] = []
    /// Peers the server asked a standby decision for.
    var decisions: [PeerID] = []
    /// Actions a machine of this role should never return.
    var unexpected: [String] = []

    /// Runs both machines until neither has anything left to do: each `.sendBinary` is fed to the other
    /// side's `receive`, the server's n-th standby decision is `decide(n)`, and every standby wait of
    /// the client is over at once. Bounded: at most `rounds` exchanges.
    static func run(
        client: inout ProtocolTwoClientHandshake, server: inout ProtocolTwoServerHandshake, rounds: Int = 64,
        decide: (Int) -> WireMessage.Standby = { _ in .primary }
    ) -> BackToBackRun {
        var log = BackToBackRun()
        var clientActions = client.upgraded()
        var serverActions: [HandshakeAction] = []
        for _ in 0..<rounds where !(clientActions.isEmpty && serverActions.isEmpty) {
            var nextClient: [HandshakeAction] = []
            var nextServer: [HandshakeAction] = []
            for action in clientActions {
                switch action {
                case .sendBinary(let frame):
                    log.clientToServer.append(frame)
                    if log.server == nil { nextServer += server.receive(frame) }
                case .waitThenPoll(let delay):
                    log.polls.append(delay)
                    nextClient += client.standbyTimerFired()
                case .established(let session):
                    log.client = .established(session)
                case .fail(let error):
                    log.client = .failed(error)
                case .send, .decideStandby:
                    log.unexpected.append("client: \(action)")
                }
            }
            for action in serverActions {
                switch action {
                case .sendBinary(let frame):
                    log.serverToClient.append(frame)
                    if log.client == nil { nextClient += client.receive(frame) }
                case .decideStandby(let name, let zone):
                    log.decisions.append(PeerID(name: name, zone: zone))
                    nextServer += server.standbyDecided(decide(log.decisions.count - 1))
                case .established(let session):
                    log.server = .established(session)
                case .fail(let error):
                    log.server = .failed(error)
                case .send, .waitThenPoll:
                    log.unexpected.append("server: \(action)")
                }
            }
            clientActions = nextClient
            serverActions = nextServer
        }
        return log
    }
}

extension [HandshakeAction] {
    /// The binary frames among the actions.
    var sentFrames: [[UInt8]] {
        compactMap { if case .sendBinary(let bytes) = $0 { return bytes } else { return nil } }
    }

    /// The error of a `.fail` among the actions.
    var failure: PaddingtonError? {
        for case .fail(let error) in self { return error }
        return nil
    }

    var establishedSession: EstablishedSession? {
        for case .established(let session) in self { return session }
        return nil
    }
}

extension EstablishedSession {
    /// The protocol 2 codec of the session. Records an issue when the machine made another codec.
    var protocolTwoCodec: ProtocolTwoCodec? {
        guard let codec = codec as? ProtocolTwoCodec else {
            Issue.record("expected a protocol 2 codec, got \(type(of: codec))")
            return nil
        }
        return codec
    }
}

extension ProtocolTwoCodec {
    /// Prepares and emits one payload; returns the frame's bytes.
    func sealForTest(_ payload: Payload) throws -> [UInt8] {
        try emitForTest(try prepare(payload, maxFrameSize: 1 << 20, allocator: ByteBufferAllocator()))
    }

    /// Emits the keepalive frame; returns its bytes.
    func sealKeepaliveForTest() throws -> [UInt8] {
        try emitForTest(prepareKeepalive(allocator: ByteBufferAllocator()))
    }

    private func emitForTest(_ frame: PreparedFrame) throws -> [UInt8] {
        var written: [WebSocketFrame] = []
        try emit(frame) { written.append($0) }
        guard written.count == 1, let first = written.first, first.opcode == .binary else {
            throw PaddingtonError(.protocolViolation, "expected one binary frame, got \(written.map(\.opcode))")
        }
        return Array(buffer: first.data)
    }

    /// Opens one binary frame.
    func openForTest(_ bytes: [UInt8], opcode: WebSocketOpcode = .binary) throws -> InboundFrame {
        try open(WebSocketFrame(fin: true, opcode: opcode, data: ByteBuffer(bytes: bytes)))
    }
}
