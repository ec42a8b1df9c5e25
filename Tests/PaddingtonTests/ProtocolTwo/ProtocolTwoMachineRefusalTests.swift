import Testing
@testable import Paddington
import PaddingtonCrypto

/// What the protocol 2 machines refuse during the session start (paddington-v2 §6 and §7): the wrong
/// identity, the wrong frame where PeerDetails is expected, and the per-client policy.
@Suite("Protocol 2 handshake machines: refusals")
struct ProtocolTwoMachineRefusalTests {
    let f: V2MachineFixture

    init() throws { f = try V2MachineFixture() }

    // MARK: The server reading the client's PeerDetails

    @Test("server: PeerDetails with another name, zone or version is refused", arguments: [
        (V2MachineFixture.peerDetailsJSON(name: "intruder"), PaddingtonError.Code.peerNameMismatch, "says it is 'intruder'"),
        (V2MachineFixture.peerDetailsJSON(zone: "other"), .peerZoneMismatch, "its keys are for 'default'"),
        (V2MachineFixture.peerDetailsJSON(version: "1"), .protocolVersionMismatch, "version 1"),
        (V2MachineFixture.peerDetailsJSON(version: "3"), .protocolVersionMismatch, "version 3"),
    ])
    func serverIdentity(json: String, code: PaddingtonError.Code, text: String) throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        let actions = server.receive(try client.control(json))
        let error = try #require(actions.failure, "\(actions)")
        #expect(error.code == code)
        #expect(error.message.contains(text), "\(error.message)")
        #expect(actions.sentFrames.isEmpty)
        // The failure can still name the client whose keys opened message 1.
        #expect(server.identifiedPeer == PeerID(name: "echo-client", zone: "default"))
    }

    @Test("client machine named otherwise, or in another zone, is refused by the server machine", arguments: [
        ("intruder", "default", PaddingtonError.Code.peerNameMismatch), ("echo-client", "other", .peerZoneMismatch),
    ])
    func machineIdentity(name: String, zone: String, code: PaddingtonError.Code) throws {
        // The same keys under another zone: message 1 opens (the keys are the invitation's), PeerDetails does not pass.
        var client = try f.client(localName: name, server: try f.serverEntry(zone: zone))
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server)
        #expect(run.server?.error?.code == code, "\(String(describing: run.server))")
        #expect(run.client == nil, "the client hears nothing more: \(String(describing: run.client))")
        #expect(run.decisions.isEmpty)
        #expect(run.serverToClient.count == 1, "only message 2 went back")
    }

    @Test("server: where PeerDetails is expected, any other frame is refused", arguments: [
        ("DATA", PaddingtonError.Code.protocolViolation),
        ("Keepalive", .protocolViolation),
        ("CheckStandby", .protocolViolation),
        ("StandbyStatus", .protocolViolation),
        ("Unknown", .protocolViolation),
        ("Malformed", .invalidJSON),
        ("EngineNumber", .invalidJSON),
        ("VersionText", .invalidJSON),
        ("NoStandby", .invalidJSON),
        ("BadStandby", .invalidJSON),
        ("Empty", .invalidJSON),
    ])
    func serverWrongFrame(kind: String, code: PaddingtonError.Code) throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        let frame = try Self.frame(kind, from: client, name: "echo-client")
        let actions = server.receive(frame)
        let error = try #require(actions.failure, "\(kind): \(actions)")
        #expect(error.code == code, "\(kind): \(error)")
        #expect(actions.sentFrames.isEmpty)
        // Nothing more is accepted afterwards.
        #expect(server.receive(try client.control(V2MachineFixture.peerDetailsJSON())).failure?.code == .protocolViolation)
    }

    /// A frame of the given kind, sealed by `peer` as its next frame.
    static func frame(_ kind: String, from peer: HandMadeV2Peer, name: String) throws -> [UInt8] {
        switch kind {
        case "DATA": return try peer.seal(.data, Array(V2MachineFixture.peerDetailsJSON(name: name).utf8))
        case "Keepalive": return try peer.control(#"{"Keepalive":{}}"#)
        case "CheckStandby": return try peer.control(#"{"CheckStandby":{}}"#)
        case "StandbyStatus": return try peer.control(#"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":false}}"#)
        case "Unknown": return try peer.control(#"{"PeerDetailsV3":{}}"#)
        case "Malformed": return try peer.control(#"{"PeerDetails":{"name":"#)
        case "EngineNumber": return try peer.control(V2MachineFixture.peerDetailsJSON(name: name, engine: "2"))
        case "VersionText": return try peer.control(V2MachineFixture.peerDetailsJSON(name: name, version: #""2""#))
        case "NoStandby": return try peer.control(#"{"PeerDetails":{"name":"\#(name)","zone":"default","version":2}}"#)
        case "BadStandby": return try peer.control(V2MachineFixture.peerDetailsJSON(name: name, standby: #"{"server_is_secondary":false}"#))
        case "Empty": return try peer.seal(.control, [])
        default: throw PaddingtonError(.invalidArgument, "no frame kind \(kind)")
        }
    }

    @Test("server: a frame that does not open, or is not binary-sized, fails authentication of the session start")
    func serverGarbageDetails() throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        var frame = try client.control(V2MachineFixture.peerDetailsJSON())
        frame[3] ^= 0x40
        #expect(server.receive(frame).failure?.code == .authenticationFailed)
        var short = try f.server()
        _ = try f.handMadeClient(against: &short)
        #expect(short.receive([1, 2, 3]).failure?.code == .malformedFrame)
    }

    @Test("server: the client's standby_status must be well-formed and is then ignored")
    func clientStandbyIgnored() throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        let json = V2MachineFixture.peerDetailsJSON(standby: #"{"server_is_secondary":true,"client_is_secondary":true,"extra":1}"#)
        let actions = server.receive(try client.control(json))
        guard case .decideStandby(let name, let zone)? = actions.first else {
            Issue.record("expected a standby decision, got \(actions)")
            return
        }
        #expect(name == "echo-client" && zone == "default")
        let done = server.standbyDecided(.primary)
        #expect(done.establishedSession != nil)
        // The reply says primary, whatever the client said of itself.
        let reply = try client.open(try #require(done.sentFrames.first))
        #expect(reply.1.contains(#""standby_status":{"server_is_secondary":false,"client_is_secondary":false}"#), "\(reply.1)")
    }

    @Test("server: engine absent or null is unknown; engine_version likewise", arguments: [
        (String?.none, String?.none, "unknown", "unknown"),
        ("null", "null", "unknown", "unknown"),
        (#""rust-2""#, "null", "rust-2", "unknown"),
        ("null", #""9.9""#, "unknown", "9.9"),
    ])
    func serverEngine(engine: String?, version: String?, expectedEngine: String, expectedVersion: String) throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        let actions = server.receive(try client.control(V2MachineFixture.peerDetailsJSON(engine: engine, engineVersion: version)))
        guard case .decideStandby? = actions.first else {
            Issue.record("expected a standby decision, got \(actions)")
            return
        }
        let session = try #require(server.standbyDecided(.primary).establishedSession)
        #expect(session.peerEngine == expectedEngine)
        #expect(session.peerVersion == expectedVersion)
    }

    @Test("server: engine or engine_version of another JSON type is refused", arguments: [
        (#"2"#, "null"), (#"true"#, "null"), (#"{}"#, "null"), (#"["x"]"#, "null"), ("null", "0.2"), ("null", "[]"),
    ])
    func serverEngineType(engine: String, version: String) throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        let actions = server.receive(try client.control(V2MachineFixture.peerDetailsJSON(engine: engine, engineVersion: version)))
        #expect(actions.failure?.code == .invalidJSON, "\(actions)")
    }

    // MARK: The client reading the server's PeerDetails

    @Test("client: the server's PeerDetails with another name, zone or version is refused", arguments: [
        (V2MachineFixture.peerDetailsJSON(name: "impostor"), PaddingtonError.Code.peerNameMismatch),
        (V2MachineFixture.peerDetailsJSON(name: "echo-server", zone: "elsewhere"), .peerZoneMismatch),
        (V2MachineFixture.peerDetailsJSON(name: "echo-server", version: "1"), .protocolVersionMismatch),
    ])
    func clientIdentity(json: String, code: PaddingtonError.Code) throws {
        var client = try f.client()
        let (server, sent) = try f.handMadeServer(against: &client)
        // The client's PeerDetails opens under the hand-made session: it is the vectors' frame 0.
        #expect(sent.sentFrames == [f.clientFrame(0)])
        #expect(server.received == [f.v.client_to_server[0].body_utf8])
        let error = try #require(client.receive(try server.control(json)).failure)
        #expect(error.code == code)
    }

    @Test("client: where the server's PeerDetails is expected, any other frame is refused", arguments: [
        ("DATA", PaddingtonError.Code.protocolViolation),
        ("Keepalive", .protocolViolation),
        ("CheckStandby", .protocolViolation),
        ("StandbyStatus", .protocolViolation),
        ("Unknown", .protocolViolation),
        ("Malformed", .invalidJSON),
        ("EngineNumber", .invalidJSON),
        ("NoStandby", .invalidJSON),
        ("Empty", .invalidJSON),
    ])
    func clientWrongFrame(kind: String, code: PaddingtonError.Code) throws {
        var client = try f.client()
        let (server, _) = try f.handMadeServer(against: &client)
        let actions = client.receive(try Self.frame(kind, from: server, name: "echo-server"))
        let error = try #require(actions.failure, "\(kind): \(actions)")
        #expect(error.code == code, "\(kind): \(error)")
        #expect(actions.sentFrames.isEmpty)
    }

    @Test("client: the server's engine absent or null is unknown, a number is refused")
    func clientEngine() throws {
        var client = try f.client()
        let (server, _) = try f.handMadeServer(against: &client)
        let actions = client.receive(try server.control(V2MachineFixture.peerDetailsJSON(name: "echo-server", engine: nil, engineVersion: "null")))
        let session = try #require(actions.establishedSession, "\(actions)")
        #expect(session.peerEngine == "unknown" && session.peerVersion == "unknown")

        var other = try f.client()
        let (otherServer, _) = try f.handMadeServer(against: &other)
        let refused = other.receive(try otherServer.control(V2MachineFixture.peerDetailsJSON(name: "echo-server", engine: "7")))
        #expect(refused.failure?.code == .invalidJSON)
    }

    @Test("client: a frame before message 2 is answered, or after the session start, is refused")
    func clientOutOfOrder() throws {
        var early = try f.client()
        // Before upgraded(): nothing is expected.
        #expect(early.receive(f.msg2).failure?.code == .protocolViolation)
        var twice = try f.client()
        _ = twice.upgraded()
        #expect(twice.upgraded().failure?.code == .protocolViolation)
    }

    // MARK: Policy

    @Test("server: a client whose own policy is off is refused on protocol 2 after message 1 identifies it")
    func perClientOff() throws {
        var server = try f.server(candidates: [try f.clientEntry(policy: .off)])
        let actions = server.receive(f.msg1)
        let error = try #require(actions.failure)
        #expect(error.code == .protocolVersionMismatch)
        #expect(error.message.contains("echo-client@default"))
        #expect(actions.sentFrames.isEmpty, "no message 2")
        #expect(server.identifiedPeer == PeerID(name: "echo-client", zone: "default"))
    }

    @Test("server: the client's own policy overrides the service's", arguments: [
        (ProtocolPolicy?.none, ProtocolPolicy.auto, true),
        (.none, .require, true),
        (.none, .off, false),
        (.some(.auto), .off, true),
        (.some(.require), .off, true),
        (.some(.off), .auto, false),
        (.some(.off), .require, false),
    ])
    func policyOverride(client: ProtocolPolicy?, service: ProtocolPolicy, accepted: Bool) throws {
        var server = try f.server(candidates: [try f.clientEntry(policy: client)], servicePolicy: service)
        let actions = server.receive(f.msg1)
        if accepted {
            #expect(actions.sentFrames == [f.msg2], "\(actions)")
        } else {
            #expect(actions.failure?.code == .protocolVersionMismatch, "\(actions)")
        }
    }
}
