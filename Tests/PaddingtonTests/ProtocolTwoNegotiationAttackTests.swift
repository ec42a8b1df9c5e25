import Testing
@testable import Paddington
import PaddingtonCrypto

/// Attacks on protocol 2's negotiation and handshake over 127.0.0.1 (paddington-v2 §4, §5): wrong keys,
/// a man in the middle who changes or strips the `openportal-protocol` headers, malformed offers, and
/// `require` against a protocol 1 peer. Each case checks the refusing side's precise reason and that the
/// server still serves a good client afterwards.
///
/// The cases run one at a time (a few seconds in all), so as not to load the rest of the suite, which
/// runs in parallel with them on two cores.
@Suite("Protocol 2 negotiation under attack", .serialized)
struct ProtocolTwoNegotiationAttackTests {
    static let header = ProtocolOffer.headerName

    /// For servers facing a raw client, which does not retry: a handshake limit of 15 s, since the
    /// whole suite runs in parallel on two cores.
    static func rawOptions() -> MeshConfiguration {
        fastOptions(handshakeTimeout: .seconds(15))
    }

    /// After a man in the middle broke a handshake: no link came up on either side; with the client and
    /// the proxy gone, the server still serves a good client over protocol 2; then it stops.
    func expectNoLinkThenServes(
        _ server: RunningMesh, client: RunningMesh, proxy: TamperingProxy, port: Int, invitation: Invitation,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(client.recorder.count(\.isConnected) == 0, sourceLocation: sourceLocation)
        #expect(server.recorder.count(\.isConnected) == 0, sourceLocation: sourceLocation)
        await client.stop()
        await proxy.stop()
        try await expectServes(port: port, invitation: invitation, overProtocol: 2, sourceLocation: sourceLocation)
        await server.stop()
    }

    // MARK: Keys

    @Test("wrong PSK: the server upgrades, then message 1 opens with no client's key and is refused")
    func wrongPSK() async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.rawOptions())
        // The server decides before it knows the client: 101 with protocol 2, then no message 2.
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: .generate())
        #expect(raw.response.status == 101)
        #expect(raw.selection == ["2"])
        try await raw.sendMessage1()
        let end = await raw.awaitClose()
        #expect(end.closed)
        #expect(!raw.received.contains { $0.opcode == RawFrame.binary }, "the server answered a message 1 it could not open")
        try await expectRefusal(server, .authenticationFailed, peer: .some(nil), containing: "Noise message 1")

        // A real client holding other keys.
        var forged = invitation
        forged.keys = .generate()
        let intruder = RunningMesh(try clientConfiguration(invitation: forged, port: port))
        try await intruder.recorder.wait(for: "the intruder's failure") { $0.failureCode != nil }
        try await server.recorder.wait(untilCount: 2) { $0.failureCode == .authenticationFailed }
        #expect(server.recorder.count { $0.failureCode == .authenticationFailed } >= 2)
        #expect(intruder.recorder.count(\.isConnected) == 0)
        await intruder.stop()
        await raw.close()
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    /// Handshake frames an attacker with or without the keys could send, and the server's reason.
    static let badHandshakes: [(String, PaddingtonError.Code)] = [
        ("message 1 of 47 bytes", .malformedFrame), ("message 1 as a text frame", .protocolViolation),
        ("DATA as the first transport frame", .protocolViolation), ("PeerDetails of another name", .peerNameMismatch),
        ("PeerDetails of another zone", .peerZoneMismatch), ("a first transport frame that does not open", .authenticationFailed),
    ]

    @Test("a bad handshake frame is refused with its reason", arguments: badHandshakes)
    func badHandshake(kind: String, expected: PaddingtonError.Code) async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.rawOptions())
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
        #expect(raw.selection == ["2"])
        switch kind {
        case "message 1 of 47 bytes":
            try await raw.sendBinary(Array(repeating: 7, count: 47))
        case "message 1 as a text frame":
            try await raw.sendText(Array(repeating: 0x61, count: 48))
        default:
            try await raw.handshake()
            switch kind {
            case "DATA as the first transport frame": try await raw.sendData(Array("hello".utf8))
            case "PeerDetails of another name": try await raw.sendPeerDetails(name: "intruder")
            case "PeerDetails of another zone": try await raw.sendPeerDetails(name: "client", zone: "elsewhere")
            default:
                var frame = try raw.seal(.control, ControlMessage.keepalive.json())
                frame[frame.count - 1] ^= 1
                try await raw.sendBinary(frame)
            }
        }
        #expect(await raw.awaitClose().closed)
        try await expectRefusal(server, expected)
        #expect(server.recorder.count(\.isConnected) == 0)
        await raw.close()
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    // MARK: A man in the middle

    @Test("tampered offer: the server selects 2 under another prologue, and message 1 fails", arguments: ["3,2", "2,1"])
    func tamperedOffer(value: String) async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port, request: TamperingProxy.replacing(Self.header, with: value))
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port))
        try await expectRefusal(server, .authenticationFailed, peer: .some(nil), containing: "Noise message 1")
        try await client.recorder.wait(for: "the client's failure") { $0.failureCode != nil }
        #expect(proxy.edits.requests >= 1)
        try await expectNoLinkThenServes(server, client: client, proxy: proxy, port: port, invitation: invitation)
    }

    @Test("tampered selection: the client accepts only the exact value 2", arguments: ["1", "3", "2,1", "02"])
    func tamperedSelection(value: String) async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port, response: TamperingProxy.replacing(Self.header, with: value))
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port))
        // The client retries; under load an attempt may time out first, so wait for the refusal itself.
        let event = try await client.recorder.wait(for: "the client's refusal") { $0.failureCode == .protocolViolation }
        if case .handshakeFailed(_, _, let error) = event { #expect(error.message.contains("not offered"), "\(error)") }
        #expect(proxy.edits.responses >= 1)
        try await expectNoLinkThenServes(server, client: client, proxy: proxy, port: port, invitation: invitation)
    }

    @Test("stripped offer: the server runs protocol 1, finds the client's downgrade marker and refuses")
    func strippedOffer() async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port, request: TamperingProxy.removing(Self.header))
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port))
        try await expectRefusal(server, .downgradeDetected, peer: PeerID.ackClient)
        try await client.recorder.wait(for: "the client's failure") { $0.failureCode != nil }
        #expect(proxy.edits.requests >= 1)
        try await expectNoLinkThenServes(server, client: client, proxy: proxy, port: port, invitation: invitation)
    }

    @Test("stripped selection: the client falls back to protocol 1, and its text frame is refused where message 1 belongs")
    func strippedSelection() async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port, response: TamperingProxy.removing(Self.header))
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port))
        try await expectRefusal(server, .protocolViolation, peer: .some(nil), containing: "binary")
        try await client.recorder.wait(for: "the client's failure") { $0.failureCode != nil }
        #expect(proxy.edits.responses >= 1)
        try await expectNoLinkThenServes(server, client: client, proxy: proxy, port: port, invitation: invitation)
    }

    // MARK: The offer header

    @Test("a malformed or repeated offer gets HTTP 400 before any 101", arguments: [
        [""], ["02"], ["2,2"], ["1,2"], ["2, 1"], ["2,"], [",2"], ["two"], ["0"], ["65536"], ["+2"], ["2", "2"], ["2", "1"],
    ])
    func malformedOffer(values: [String]) async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.rawOptions())
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys, offer: values)
        #expect(raw.response.status == 400, "\(raw.response.startLine)")
        #expect(!raw.raw.receivedText.contains("101"))
        #expect(raw.selection.isEmpty)
        #expect(await raw.raw.waitForClose(timeout: .seconds(15)))
        try await expectRefusal(server, .protocolViolation, peer: .some(nil), containing: Self.header)
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    @Test("a server that requires protocol 2 answers a request without an offer of 2 with HTTP 426", arguments: [[], ["1"], ["3"], ["3,1"]])
    func upgradeRequired(values: [String]) async throws {
        let (server, invitation, port) = try await startAckServer(policy: .require, options: Self.rawOptions())
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys, offer: values)
        #expect(raw.response.status == 426, "\(raw.response.startLine)")
        #expect(raw.response.values("Upgrade").map { $0.lowercased() } == ["websocket"])
        #expect(raw.response.values(Self.header) == ["2"])
        #expect(!raw.raw.receivedText.contains("101"))
        #expect(await raw.raw.waitForClose(timeout: .seconds(15)))
        try await expectRefusal(server, .protocolVersionMismatch, peer: .some(nil), containing: "requires protocol 2")
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    @Test("the offer as HTTP delivers it enters the prologue: any spelling of the name, whitespace stripped, other versions kept",
          arguments: [("OpenPortal-Protocol", "2"), ("openportal-protocol", "  2"), ("openportal-protocol", "\t2"), ("openportal-protocol", "3,2"),
                      ("openportal-protocol", "65535,2,1")])
    func offerSpellings(name: String, value: String) async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.rawOptions())
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys, offer: [value], headerName: name)
        #expect(raw.response.status == 101)
        #expect(raw.selection == ["2"])
        try await raw.handshake()
        try await raw.startSession(name: "client")
        try await server.recorder.wait(for: "raw client connected") { $0.isConnected }
        #expect(server.mesh.connectedPeers.first?.protocolVersion == 2)
        await raw.close()
        await server.stop()
    }

    @Test("whitespace around the offer is part of no value (HTTP strips it): the server selects 2 and the prologue matches",
          arguments: ["2 ", "2\t", " 2  "])
    func trailingWhitespaceInOffer(value: String) async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.rawOptions())
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys, offer: [value])
        #expect(raw.response.status == 101, "\(raw.response.startLine)")
        try await raw.handshake()
        try await raw.startSession(name: "client")
        await raw.close()
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    @Test("whitespace after the selection is part of no value (HTTP strips it): the client accepts it", arguments: ["2 ", "2\t"])
    func trailingWhitespaceInSelection(value: String) async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port, response: TamperingProxy.replacing(Self.header, with: value))
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port))
        let event = try await client.recorder.wait(for: "the client's outcome") { $0.isConnected || $0.failureCode == .protocolViolation }
        #expect(proxy.edits.responses >= 1)
        #expect(event.isConnected, "\(event)")
        await client.stop()
        await proxy.stop()
        await server.stop()
    }

    @Test("a long valid offer is served up to the documented limit of 256 bytes, and refused with 400 beyond it")
    func longOffer() async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, options: Self.rawOptions())
        // Twelve five-digit versions and 2: descending, no duplicates, no spaces, no leading zeros; 74 bytes.
        let offer = (65524...65535).reversed().map(String.init).joined(separator: ",") + ",2"
        let raw = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys, offer: [offer])
        #expect(raw.response.status == 101, "\(raw.response.startLine)")
        #expect(raw.selection == ["2"])
        await raw.close()
        // 43 five-digit versions and 2: 259 bytes.
        let tooLong = (65493...65535).reversed().map(String.init).joined(separator: ",") + ",2"
        #expect(tooLong.utf8.count > ProtocolOffer.maximumLength)
        let refused = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys, offer: [tooLong])
        #expect(refused.response.status == 400, "\(refused.response.startLine)")
        await refused.close()
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    @Test("a client that did not offer ignores a selection header a man in the middle adds")
    func unsolicitedSelection() async throws {
        let (server, invitation, port) = try await startAckServer()
        let proxy = try await TamperingProxy.start(to: port, response: TamperingProxy.adding(Self.header, "2"))
        try await expectServes(port: proxy.port, invitation: invitation, overProtocol: 1, policy: .off)
        #expect(proxy.edits.responses >= 1)
        // Nothing refused over the protocol (a handshake that timed out under load and was retried is no refusal).
        let refusals: [PaddingtonError.Code] = [.protocolViolation, .downgradeDetected, .protocolVersionMismatch, .authenticationFailed]
        #expect(server.recorder.count { $0.failureCode.map(refusals.contains) ?? false } == 0)
        await proxy.stop()
        await server.stop()
    }

    /// Protocol 1 frame 1 with `fragment` inserted after the existing fields, to a server with `policy`,
    /// and what the server must do with it: refuse with a reason, or answer with frame 2 (nil).
    typealias Outcome = PaddingtonError.Code?
    static let markers: [(String, ProtocolPolicy, Outcome)] = [
        (#","protocols":[2]"#, .auto, .downgradeDetected), (#","protocols":[3,2]"#, .auto, .downgradeDetected),
        (#","protocols":[3]"#, .auto, nil), (#","protocols":[]"#, .auto, nil), (#","protocols":null"#, .auto, nil),
        (#","protocols":"2""#, .auto, .protocolViolation), (#","protocols":[-1]"#, .auto, .protocolViolation),
        (#","protocols":[4294967296]"#, .auto, .protocolViolation), (#","protocols":{"2":true}"#, .auto, .protocolViolation),
        (#","protocols":[2]"#, .off, nil), (#","protocols":"junk""#, .off, nil),
    ]

    @Test("the downgrade marker in protocol 1's frame 1, without an offer header", arguments: markers)
    func downgradeMarker(fragment: String, policy: ProtocolPolicy, expected: Outcome) async throws {
        let (server, invitation, port) = try await startAckServer(policy: policy, options: Self.rawOptions())
        var socket = try await RawWebSocket.open(port: port, keys: invitation.keys)
        let outerSession = SecretKey.generate()
        var hello = WireMessage.Hello(sessionKey: outerSession, engine: "attacker", version: "0").json()
        hello.removeLast()  // the closing brace
        hello += Array(fragment.utf8) + [UInt8(ascii: "}")]
        try await socket.sendText(Envelope.seal(hello, keys: invitation.keys, salts: socket.salts))
        if let expected {
            #expect(await socket.raw.waitForClose(timeout: .seconds(15)))
            // A malformed marker fails like a frame 1 that is not a Handshake: the refusal names no client.
            try await expectRefusal(server, expected, peer: expected == .downgradeDetected ? PeerID.ackClient : nil)
        } else {
            // Frame 2 comes back, marked when protocol 2 is on at the server.
            let frame2 = try #require(await socket.nextFrame())
            #expect(frame2.opcode == 0x1)
            let reply = try Envelope.open(
                frame2.payload, keys: EnvelopeKeys(inner: invitation.keys.inner, outer: outerSession), salts: socket.salts)
            #expect(String(decoding: reply, as: UTF8.self).contains(#""protocols":[2]"#) == (policy != .off))
        }
        await socket.raw.close()
        try await expectServes(port: port, invitation: invitation, overProtocol: policy == .off ? 1 : 2)
        await server.stop()
    }

    /// The marker a server's frame 2 carries after a `101` without a selection, and what the client
    /// that offered must do: refuse with a reason, or go on to frame 3 (nil).
    static let serverMarkers: [(String, Outcome)] = [
        (#","protocols":[2]"#, .downgradeDetected), (#","protocols":[5,2]"#, .downgradeDetected),
        ("", nil), (#","protocols":[3]"#, nil), (#","protocols":null"#, nil),
        (#","protocols":"2""#, .protocolViolation), (#","protocols":[-2]"#, .protocolViolation),
    ]

    @Test("the client's side of the downgrade check: no selection in the 101, then a frame 2 that lists 2", arguments: serverMarkers)
    func strippedSelectionSeenByTheClient(marker: String, expected: Outcome) async throws {
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let fake = try await FakeProtocolOneServer.start(keys: invitation.keys, marker: marker)
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: fake.port))
        if let expected {
            try await client.recorder.wait(for: "the client's refusal") { $0.failureCode == expected }
        } else {
            // Like a Rust server: the client goes on and sends its PeerDetails (frame 3).
            let deadline = ContinuousClock.now + .seconds(15)
            while fake.received.laterFrames == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(fake.received.laterFrames >= 1)
            #expect(client.recorder.count { $0.failureCode == .downgradeDetected || $0.failureCode == .protocolViolation } == 0)
        }
        // The client marked its own frame 1.
        #expect(fake.received.hellos.first?.contains(#""protocols":[2]"#) == true)
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()
        await fake.stop()
    }

    // MARK: require against protocol 1

    @Test("require on the server: a client with protocol 2 off gets HTTP 426 and gives up with the reason")
    func serverRequiresClientOff() async throws {
        let (server, invitation, port) = try await startAckServer(policy: .require)
        var config = try clientConfiguration(invitation: invitation, port: port)
        config.protocolPolicy = .off
        let client = RunningMesh(config)
        try await expectRefusal(server, .protocolVersionMismatch, peer: .some(nil))
        try await client.recorder.wait(for: "the client's failure") { $0.failureCode == .protocolVersionMismatch }
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()
        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    @Test("require on the client: a server with protocol 2 off answers with protocol 1, and the client refuses it")
    func clientRequiresServerOff() async throws {
        let (server, invitation, port) = try await startAckServer(policy: .off)
        var config = try clientConfiguration(invitation: invitation, port: port)
        config.protocolPolicy = .require
        let client = RunningMesh(config)
        let event = try await client.recorder.wait(for: "the client's refusal") { $0.failureCode == .protocolVersionMismatch }
        if case .handshakeFailed(_, let peer, let error) = event {
            #expect(peer == PeerID(name: "server", zone: "default"))
            #expect(error.message.contains("required"), "\(error)")
        }
        #expect(client.recorder.count(\.isConnected) == 0)
        #expect(server.recorder.count(\.isConnected) == 0)
        await client.stop()
        try await expectServes(port: port, invitation: invitation, overProtocol: 1)
        await server.stop()
    }

    @Test("require in one client's entry: that client is refused on protocol 1 once frame 1 names it; others may use 1")
    func perClientRequire() async throws {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let other = try config.addClient("other", allowing: try IPAllowance(parsing: "127.0.0.1"))
        config.clients[0].protocolPolicy = .require
        let server = RunningMesh(config) { mesh in
            mesh.onMessage { message, context in try await context.reply("ack:\(message.payload)") }
        }
        let port = try await server.mesh.listeningPort()

        var offConfig = try clientConfiguration(invitation: invitation, port: port)
        offConfig.protocolPolicy = .off
        let client = RunningMesh(offConfig)
        try await expectRefusal(server, .protocolVersionMismatch, peer: PeerID.ackClient, containing: "must use protocol 2")
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()

        // The requirement is that client's alone: another client is served over protocol 1.
        var otherConfig = try clientConfiguration(name: "other", invitation: other, port: port)
        otherConfig.protocolPolicy = .off
        let otherClient = RunningMesh(otherConfig)
        try await otherClient.recorder.wait(for: "the other client connected") { $0.isConnected }
        #expect(otherClient.mesh.connectedPeers.first?.protocolVersion == 1)
        await otherClient.stop()

        try await expectServes(port: port, invitation: invitation, overProtocol: 2)
        await server.stop()
    }

    @Test("off in one client's entry: that client is refused on protocol 2 once message 1 names it, and served on protocol 1")
    func perClientOff() async throws {
        let (server, invitation, port) = try await startAckServer(policy: .auto, clientPolicy: .off)
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await expectRefusal(server, .protocolVersionMismatch, peer: PeerID.ackClient, containing: "protocol 2 is off")
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()
        try await expectServes(port: port, invitation: invitation, overProtocol: 1, policy: .off)
        await server.stop()
    }
}
