import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOWebSocket
import Testing
@testable import Paddington
import PaddingtonCrypto

/// Attacks on established protocol 2 links over 127.0.0.1 (paddington-v2 §5–§7): frames an
/// authenticated peer or an on-path attacker could send once the session runs, a replayed message 1,
/// and the nonce limit. Each refusal is checked with its precise reason on the server, the socket
/// closed (after a Close 1002, when one comes first), and a good client served afterwards.
///
/// The cases run one at a time (about 7 s in all): the rest of the suite runs in parallel with them on
/// two cores, and its timing-sensitive tests suffer when a hundred servers start at once.
@Suite("Protocol 2 links under attack", .serialized)
struct ProtocolTwoSessionAttackTests {
    /// Keepalives every 200 ms, so that the server sends frames of its own (a reflected frame can
    /// then carry exactly the nonce the server expects next).
    ///
    /// A handshake limit of 15 s: a raw client does not retry, and the whole suite runs in parallel.
    static func options() -> MeshConfiguration {
        var options = fastOptions(handshakeTimeout: .seconds(15))
        options.keepaliveInterval = .milliseconds(200)
        return options
    }

    struct Target {
        let server: RunningMesh
        let invitation: Invitation
        let port: Int
        let client: RawProtocolTwoClient
    }

    /// An ack server and a raw client authenticated to it over protocol 2.
    func connect(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Target {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.options())
        let client = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
        #expect(client.response.status == 101, sourceLocation: sourceLocation)
        #expect(client.selection == ["2"], sourceLocation: sourceLocation)
        try await client.handshake()
        let details = try await client.startSession(name: "client")
        #expect(details.name == "server" && details.zone == "default" && details.standby == .primary, sourceLocation: sourceLocation)
        try await server.recorder.wait(for: "raw client connected", sourceLocation: sourceLocation) { $0.isConnected }
        #expect(server.mesh.connectedPeers.first?.protocolVersion == 2, sourceLocation: sourceLocation)
        return Target(server: server, invitation: invitation, port: port, client: client)
    }

    /// Sends `text` as DATA with the next nonce and expects the server's `ack:` back.
    func roundTrip(_ client: RawProtocolTwoClient, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await client.sendData(Array(text.utf8))
        let reply = try #require(try await client.receive(), "no answer to \(text)", sourceLocation: sourceLocation)
        #expect(reply.type == .data, sourceLocation: sourceLocation)
        #expect(String(decoding: reply.body, as: UTF8.self) == "ack:\(text)", sourceLocation: sourceLocation)
    }

    /// The server still serves a good client; then everything stops.
    func finish(_ target: Target, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        await target.client.close()
        try await expectServes(port: target.port, invitation: target.invitation, overProtocol: 2, sourceLocation: sourceLocation)
        await target.server.stop()
    }

    // MARK: The positive control

    @Test("DATA with the right nonce is delivered, answered and opened (the harness works)")
    func dataDelivered() async throws {
        let target = try await connect()
        for index in 0..<3 { try await roundTrip(target.client, "hello \(index)") }
        // Bytes that are not UTF-8 travel too, and come back (with replacement characters, in the text API).
        try await target.client.sendData([0xFF, 0x00, 0x41])
        let reply = try #require(try await target.client.receive())
        #expect(reply.body == Array("ack:\u{FFFD}\u{0}A".utf8))
        #expect(target.server.recorder.count(\.isDisconnected) == 0)
        #expect(target.server.mesh.statistics.messagesReceived == 4)
        try await finish(target)
    }

    // MARK: Frames that close the link

    /// Frames sent once the session runs, and the reason the server must give for closing the link.
    static let badFrames: [(String, PaddingtonError.Code)] = [
        ("text frame", .protocolViolation), ("replayed", .decryptionFailed), ("reordered", .decryptionFailed),
        ("reflected", .decryptionFailed), ("truncated by one byte", .decryptionFailed), ("cut to 16 bytes", .malformedFrame),
        ("one byte changed", .decryptionFailed), ("PeerDetails", .protocolViolation), ("CheckStandby", .protocolViolation),
        ("StandbyStatus", .protocolViolation), ("CONTROL not JSON", .invalidJSON), ("CONTROL with two keys", .invalidJSON),
        ("CONTROL JSON array", .invalidJSON), ("Keepalive whose value is not an object", .invalidJSON),
        ("type 2", .protocolViolation), ("type 0x7F, last under its key", .protocolViolation), ("empty DATA", .protocolViolation),
        ("rekey bit set, key kept", .decryptionFailed), ("key changed, rekey bit not set", .decryptionFailed),
    ]

    @Test("a bad frame after the handshake closes the link with its reason and a Close 1002", arguments: badFrames)
    func badFrame(kind: String, expected: PaddingtonError.Code) async throws {
        let target = try await connect()
        let client = target.client
        try await roundTrip(client, "first")
        switch kind {
        case "text frame":
            try await client.sendText(try client.seal(.data, Array("hello".utf8)))
        case "replayed":
            let frame = try client.seal(.data, Array("once".utf8))
            try await client.sendBinary(frame)
            #expect(try await client.receive()?.body == Array("ack:once".utf8))
            try await client.sendBinary(frame)
        case "reordered":
            let first = try client.seal(.data, Array("a".utf8))
            let second = try client.seal(.data, Array("b".utf8))
            try await client.sendBinary(frames: [second, first])
        case "reflected":
            // The server's own frame sealed with exactly the nonce the server expects from us next (its
            // keepalives put it ahead of us): only the direction's key differs.
            let nonce = try #require(client.nonces).sending
            let reflected = try #require(try await client.serverFrame(nonce: nonce), "no frame \(nonce) from the server")
            try await client.sendBinary(reflected.payload)
        case "truncated by one byte":
            try await client.sendBinary(Array(try client.seal(.data, Array("hello".utf8)).dropLast()))
        case "cut to 16 bytes":
            try await client.sendBinary(Array(try client.seal(.data, Array("hello".utf8)).prefix(16)))
        case "one byte changed":
            var frame = try client.seal(.data, Array("hello".utf8))
            frame[0] ^= 0x01
            try await client.sendBinary(frame)
        case "PeerDetails":
            try await client.sendPeerDetails(name: "client")
        case "CheckStandby":
            try await client.sendControl(ControlMessage.checkStandby.json())
        case "StandbyStatus":
            try await client.sendControl(ControlMessage.standbyStatus(.primary).json())
        case "CONTROL not JSON":
            try await client.sendControl(Array(#"{"Keepalive":"#.utf8))
        case "CONTROL with two keys":
            try await client.sendControl(Array(#"{"Keepalive":{},"Other":{}}"#.utf8))
        case "CONTROL JSON array":
            try await client.sendControl(Array(#"[{"Keepalive":{}}]"#.utf8))
        case "Keepalive whose value is not an object":
            try await client.sendControl(Array(#"{"Keepalive":1}"#.utf8))
        case "type 2":
            try await client.sendBinary(try client.seal(plaintext: [2] + Array("hello".utf8)))
        case "type 0x7F, last under its key":
            try await client.sendBinary(try client.seal(plaintext: [0xFF] + Array("hello".utf8), rekey: true))
        case "empty DATA":
            try await client.sendBinary(try client.seal(plaintext: [ProtocolTwo.FrameType.data.rawValue]))
        case "rekey bit set, key kept":
            // The server opens it and rekeys its receiving key; ours stays, so the next frame fails.
            try await client.sendBinary(try client.seal(plaintext: [ProtocolTwo.lastUnderKeyBit] + Array("marked".utf8)))
            #expect(try await client.receive()?.body == Array("ack:marked".utf8))
            try await client.sendData(Array("hello".utf8))
        case "key changed, rekey bit not set":
            try await client.sendBinary(try client.seal(plaintext: [ProtocolTwo.FrameType.data.rawValue] + Array("unmarked".utf8), rekey: true))
            #expect(try await client.receive()?.body == Array("ack:unmarked".utf8))
            try await client.sendData(Array("hello".utf8))
        default:
            Issue.record("unknown case \(kind)")
        }
        let event = try await target.server.recorder.wait(for: "attacker dropped") { $0.isDisconnected }
        if case .peerDisconnected(let peer, let reason) = event {
            #expect(peer == PeerID.ackClient)
            #expect(reason.code == expected, "\(reason)")
        }
        #expect(target.server.mesh.statistics.disconnections[expected.description] == 1)
        // The Close 1002 comes first unless frames were still in flight when the link failed: the session
        // aborts the socket right after asking for the Close (the spec lets the peer not rely on it).
        let end = await client.awaitClose()
        if let status = end.status { #expect(status == 1002, "the server's Close status") }
        #expect(end.closed)
        #expect(target.server.mesh.connectedPeers.isEmpty)
        try await finish(target)
    }

    // MARK: Rekeying

    @Test("the server honours the client's rekey bit: frames under each new key are delivered")
    func clientRekeys() async throws {
        let target = try await connect()
        let client = target.client
        for round in 0..<3 {
            try await client.sendBinary(try client.seal(.data, Array("last under key \(round)".utf8), last: true))
            #expect(try await client.receive()?.body == Array("ack:last under key \(round)".utf8))
            try await roundTrip(client, "first under key \(round + 1)")
        }
        // A CONTROL frame may end a key too.
        try await client.sendBinary(try client.seal(.control, ControlMessage.keepalive.json(), last: true))
        try await roundTrip(client, "after a keepalive ended the key")
        #expect(target.server.recorder.count(\.isDisconnected) == 0)
        #expect(target.server.mesh.statistics.messagesReceived == 7)
        try await finish(target)
    }

    @Test("a server whose thresholds are due marks its frames and rekeys; the link goes on")
    func serverRekeys() async throws {
        var options = Self.options()
        options.rekey = RekeyThresholds(frames: 2)
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: options)
        let client = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
        try await client.handshake()
        try await client.startSession(name: "client")
        for index in 0..<6 { try await roundTrip(client, "message \(index)") }
        // Seven frames at least (PeerDetails and six answers), a new key every second one.
        #expect(client.serverRekeys >= 3)
        #expect(server.recorder.count(\.isDisconnected) == 0)
        try await finish(Target(server: server, invitation: invitation, port: port, client: client))
    }

    // MARK: Frames the link ignores

    @Test("an unknown CONTROL variant is ignored: the link stays up and the next DATA is delivered", arguments: [
        #"{"FutureVariant":{}}"#, #"{"FutureVariant":[1,2,3]}"#, #"{"FutureVariant":null}"#, #"{"Keepalive":{"extra":true}}"#,
    ])
    func unknownControl(body: String) async throws {
        let target = try await connect()
        try await roundTrip(target.client, "before")
        try await target.client.sendControl(Array(body.utf8))
        try await roundTrip(target.client, "after")
        #expect(target.server.recorder.count(\.isDisconnected) == 0)
        #expect(target.server.mesh.connectedPeers.count == 1)
        #expect(target.server.mesh.statistics.messagesReceived == 2)
        try await finish(target)
    }

    // MARK: Standby

    /// What a second connection for a connected `client` sends while it is told to wait as standby,
    /// and the server's reason for refusing it.
    static let standbyFrames: [(String, PaddingtonError.Code)] = [
        ("DATA", .protocolViolation), ("PeerDetails again", .protocolViolation), ("CONTROL not JSON", .invalidJSON),
        ("a frame that does not open", .authenticationFailed),
    ]

    @Test("a standby connection that sends anything but CheckStandby is refused; the live link stays", arguments: standbyFrames)
    func standbyMisbehaves(kind: String, expected: PaddingtonError.Code) async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.options())
        let inbox = Inbox()
        let live = RunningMesh(try clientConfiguration(invitation: invitation, port: port)) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        try await live.recorder.wait(for: "live client connected") { $0.isConnected }

        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
        try await raw.handshake()
        let details = try await raw.startSession(name: "client")
        #expect(details.standby == .secondaryClient)
        // A well-behaved poll is answered (still standby)...
        try await raw.sendControl(ControlMessage.checkStandby.json())
        let answer = try #require(try await raw.receive())
        #expect(try ControlMessage.decode(answer.body) == .standbyStatus(.secondaryClient))
        // ...anything else is not.
        switch kind {
        case "DATA": try await raw.sendData(Array("let me in".utf8))
        case "PeerDetails again": try await raw.sendPeerDetails(name: "client")
        case "CONTROL not JSON": try await raw.sendControl(Array("{".utf8))
        default:
            var frame = try raw.seal(.control, ControlMessage.checkStandby.json())
            frame[frame.count - 1] ^= 1
            try await raw.sendBinary(frame)
        }
        try await expectRefusal(server, expected, peer: PeerID.ackClient)
        #expect(await raw.awaitClose().closed)
        #expect(server.recorder.count(\.isDisconnected) == 0)
        #expect(server.recorder.count(\.isConnected) == 1)
        try await live.mesh.send("still live", to: "server")
        try await inbox.wait(count: 1)
        #expect(inbox.all.first?.payload == "ack:still live")
        await raw.close()
        await live.stop()
        await server.stop()
    }

    // MARK: Message 1 replayed

    @Test("a replayed message 1 gets a message 2 but never starts a session or displaces the live link", arguments: [
        "with the captured PeerDetails", "alone",
    ])
    func replayedMessageOne(variant: String) async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port)
        let inbox = Inbox()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port)) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        try await client.recorder.wait(for: "client connected through the proxy") { $0.isConnected }
        #expect(client.mesh.connectedPeers.first?.protocolVersion == 2)

        // What the client sent on the connection that carries its link (the last one: under load an
        // earlier attempt may have timed out): its upgrade request, message 1, then its PeerDetails.
        let sent = try #require(proxy.sent(connection: proxy.connections - 1))
        let head = try #require(RawHTTPHead.parse(sent[...]))
        #expect(head.values(ProtocolOffer.headerName) == ["2"])
        let frames = RawFrame.parseAll(sent[head.count...])
        try #require(frames.count >= 2)
        #expect(frames[0].opcode == RawFrame.binary && frames[0].payload.count == ProtocolTwo.message1Count)
        let replay = Array(sent[..<head.count]) + frames[0].wire + (variant == "alone" ? [] : frames[1].wire)

        let attacker = try await RawConnection(port: port)
        try await attacker.send(replay)
        // Message 1 opens (the server cannot tell a replay from the client), so message 2 comes back.
        var answered = false
        let deadline = ContinuousClock.now + .seconds(15)
        while !answered, ContinuousClock.now < deadline {
            if let response = RawHTTPHead.parse(attacker.received[...]) {
                #expect(response.status == 101)
                answered = RawFrame.parseAll(attacker.received[response.count...]).contains {
                    $0.opcode == RawFrame.binary && $0.payload.count == ProtocolTwo.message2Count
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(answered, "no message 2 for the replayed message 1")
        // The session never starts: the replayed PeerDetails does not open under the new keys, and
        // nothing else comes before the handshake's deadline.
        try await expectRefusal(server, variant == "alone" ? .timeout : .authenticationFailed, peer: PeerID.ackClient)
        #expect(await attacker.waitForClose(timeout: .seconds(15)))

        // The live link was never touched.
        #expect(server.recorder.count(\.isConnected) == 1)
        #expect(server.recorder.count(\.isDisconnected) == 0)
        #expect(client.recorder.count(\.isDisconnected) == 0)
        #expect(server.mesh.connectedPeers.count == 1)
        try await client.mesh.send("still live", to: "server")
        try await inbox.wait(count: 1)
        #expect(inbox.all.first?.payload == "ack:still live")
        await attacker.close()
        await client.stop()
        await proxy.stop()
        await server.stop()
    }

    // MARK: The nonce limit

    /// A link whose sending nonce starts at 2^64 − 2, on the accepting end of a real TCP connection.
    /// Nothing can bring a server's receiving nonce there over a socket (2^64 frames), so this checks the
    /// sender: it seals the last usable nonce, refuses the next frame and closes its link.
    @Test("a link at the nonce limit seals the last usable nonce, then refuses to seal and closes")
    func nonceLimit() async throws {
        let accepted = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: (any Channel).self)
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
                    accepted.succeed(channel)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        let peer = try await RawConnection(port: port)
        let channel = try await accepted.futureResult.get()

        let sending = SecretKey.generate()
        let session = ProtocolTwo.Session(
            sealer: ProtocolTwo.FrameSealer(key: sending, nonce: .max - 1),
            opener: ProtocolTwo.FrameOpener(key: SecretKey.generate()), handshakeHash: [])
        let controller = LinkController(channel: channel, configuration: LinkStateMachine<LinkController.Waiter>.Configuration(
            budgetBytes: 1 << 20, idleTimeout: .seconds(30), keepaliveInterval: .seconds(30), closeTimeout: .seconds(2),
            stepTimeout: .seconds(5)))
        let link = Link(
            session: EstablishedSession(
                peerName: "peer", zone: "default", peerEngine: "test", peerVersion: "0", role: .server,
                // No `Agent` announcement: the first frame is the test's, at nonce 2^64 − 2.
                codec: ProtocolTwoCodec(session: session, rekey: .suggested, announcesAgentFrames: false)),
            controller: controller, maxFrameSize: 1 << 16)

        // Nonce 2^64 − 2, the last usable one: sealed, sent, and it opens at the peer.
        try await link.send(.bytes(Array("last".utf8)))
        var frames: [RawFrame] = []
        let deadline = ContinuousClock.now + .seconds(15)
        while frames.isEmpty, ContinuousClock.now < deadline {
            frames = RawFrame.parseAll(peer.received[...])
            try await Task.sleep(for: .milliseconds(10))
        }
        let last = try #require(frames.first)
        var opener = ProtocolTwo.FrameOpener(key: sending, nonce: .max - 1)
        var bytes = last.payload
        let opened = try opener.open(&bytes)
        #expect(opened.type == .data && Array(bytes[opened.body]) == Array("last".utf8))

        // Nonce 2^64 − 1 is reserved: the next frame is refused and the link closes.
        try await link.send(.bytes(Array("one too many".utf8)))
        #expect(await peer.waitForClose(timeout: .seconds(15)))
        #expect(link.closeReason?.code == .protocolViolation, "\(String(describing: link.closeReason))")
        #expect(link.closeReason?.message.contains("nonce") == true)
        #expect(RawFrame.parseAll(peer.received[...]).filter { $0.opcode == RawFrame.binary }.count == 1)
        await #expect(throws: PaddingtonError.self) { try await link.send(.bytes(Array("after".utf8))) }
        await peer.close()
        try await listener.close()
    }
}
