import Testing
@testable import Paddington
import PaddingtonCrypto

/// Standby over protocol 2 (paddington-v2 §7, steps 2 and 3): a secondary client polls with CONTROL
/// `CheckStandby` and gets CONTROL `StandbyStatus` until it is primary; a secondary server refuses.
@Suite("Protocol 2 handshake machines: standby")
struct ProtocolTwoStandbyTests {
    let f: V2MachineFixture

    init() throws { f = try V2MachineFixture() }

    @Test("a secondary client polls until the server makes it primary; both sessions then carry data", arguments: [1, 3])
    func secondaryClient(rounds: Int) throws {
        var client = try f.client()
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server) { n in n < rounds ? .secondaryClient : .primary }
        #expect(run.unexpected.isEmpty, "\(run.unexpected)")
        #expect(run.polls == Array(repeating: .seconds(1), count: rounds))
        #expect(run.decisions == Array(repeating: PeerID(name: "echo-client", zone: "default"), count: rounds + 1))
        // msg1, PeerDetails, then one CheckStandby per wait; msg2, PeerDetails, one StandbyStatus per poll.
        #expect(run.clientToServer.count == 2 + rounds)
        #expect(run.serverToClient.count == 2 + rounds)
        #expect(run.clientToServer.prefix(2) == [f.msg1, f.clientFrame(0)])
        #expect(run.serverToClient.first == f.msg2)
        let clientSession = try #require(run.client?.session, "\(String(describing: run.client))")
        let serverSession = try #require(run.server?.session, "\(String(describing: run.server))")

        // The nonces stayed in step through the polls: each side opens the other's next frame.
        let clientCodec = try #require(clientSession.protocolTwoCodec)
        let serverCodec = try #require(serverSession.protocolTwoCodec)
        let up = try clientCodec.sealForTest(.text("up"))
        #expect(try serverCodec.openForTest(up) == .message(.text("up")))
        let down = try serverCodec.sealForTest(.text("down"))
        #expect(try clientCodec.openForTest(down) == .message(.text("down")))
    }

    @Test("the poll and the answers are the spec's CONTROL bodies")
    func pollBodies() throws {
        var client = try f.client()
        let (server, _) = try f.handMadeServer(against: &client)
        let secondary = V2MachineFixture.peerDetailsJSON(
            name: "echo-server", standby: #"{"server_is_secondary":false,"client_is_secondary":true}"#)
        let wait = client.receive(try server.control(secondary))
        guard case .waitThenPoll(let delay)? = wait.first, wait.count == 1 else {
            Issue.record("expected one wait, got \(wait)")
            return
        }
        #expect(delay == .seconds(1))
        // A frame while waiting (before the timer) is refused.
        var impatient = try f.client()
        let (impatientServer, _) = try f.handMadeServer(against: &impatient)
        _ = impatient.receive(try impatientServer.control(secondary))
        #expect(impatient.receive(try impatientServer.control(#"{"Keepalive":{}}"#)).failure?.code == .protocolViolation)

        let poll = try #require(client.standbyTimerFired().sentFrames.first)
        #expect(try server.openControl(poll) == #"{"CheckStandby":{}}"#)
        // The timer firing again while a poll is out does nothing.
        #expect(client.standbyTimerFired().isEmpty)
        // Still secondary: wait again.
        let again = client.receive(try server.control(#"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":true}}"#))
        guard case .waitThenPoll? = again.first else {
            Issue.record("expected to wait again, got \(again)")
            return
        }
        let second = try #require(client.standbyTimerFired().sentFrames.first)
        #expect(try server.openControl(second) == #"{"CheckStandby":{}}"#)
        let primary = client.receive(try server.control(#"{"StandbyStatus":{"client_is_secondary":false,"server_is_secondary":false}}"#))
        let session = try #require(primary.establishedSession, "\(primary)")
        #expect(session.peerName == "echo-server")
        #expect(session.peerEngine == "swift-paddington")
    }

    @Test("client: while a poll is out, only StandbyStatus is accepted", arguments: [
        #"{"PeerDetails":{"name":"echo-server","zone":"default","version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false}}}"#,
        #"{"Keepalive":{}}"#, #"{"CheckStandby":{}}"#, #"{"Next":{}}"#, #"{"StandbyStatus":{"server_is_secondary":false}}"#,
    ])
    func clientPollAnswer(json: String) throws {
        var client = try f.client()
        let (server, _) = try f.handMadeServer(against: &client)
        _ = client.receive(try server.control(V2MachineFixture.peerDetailsJSON(
            name: "echo-server", standby: #"{"server_is_secondary":false,"client_is_secondary":true}"#)))
        _ = client.standbyTimerFired()
        let actions = client.receive(try server.control(json))
        #expect(actions.failure != nil, "\(actions)")
        #expect(actions.establishedSession == nil)
    }

    @Test("a StandbyStatus saying the server is secondary ends a polling client")
    func serverBecomesSecondary() throws {
        var client = try f.client()
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server) { n in n == 0 ? .secondaryClient : .secondaryServer }
        #expect(run.client?.error?.code == .standbyRefused, "\(String(describing: run.client))")
        #expect(run.server?.error?.code == .standbyRefused, "\(String(describing: run.server))")
        #expect(run.polls.count == 1)
    }

    @Test("a secondary server sends its PeerDetails, then refuses; the client refuses too")
    func secondaryServer() throws {
        var client = try f.client()
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server) { _ in .secondaryServer }
        #expect(run.server?.error?.code == .standbyRefused, "\(String(describing: run.server))")
        #expect(run.client?.error?.code == .standbyRefused, "\(String(describing: run.client))")
        #expect(run.serverToClient.count == 2, "message 2 and PeerDetails")
        #expect(run.polls.isEmpty)
    }

    @Test("server: a standby client may only send CheckStandby", arguments: [
        #"{"Keepalive":{}}"#, V2MachineFixture.peerDetailsJSON(), #"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":false}}"#,
        #"{"Later":{}}"#, #"{"CheckStandby":[]}"#, "not json",
    ])
    func serverStandbyPoll(json: String) throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        _ = server.receive(try client.control(V2MachineFixture.peerDetailsJSON()))
        let reply = server.standbyDecided(.secondaryClient)
        #expect(reply.count == 1)
        let details = try client.open(try #require(reply.sentFrames.first))
        #expect(details.1.contains(#""client_is_secondary":true"#))
        let actions = server.receive(try client.control(json))
        #expect(actions.failure != nil, "\(actions)")

        // And DATA is refused as well.
        var other = try f.server()
        let otherClient = try f.handMadeClient(against: &other)
        _ = other.receive(try otherClient.control(V2MachineFixture.peerDetailsJSON()))
        _ = other.standbyDecided(.secondaryClient)
        #expect(other.receive(try otherClient.seal(.data, Array("hi".utf8))).failure?.code == .protocolViolation)
    }

    @Test("server: CheckStandby with any object value is a poll; the answer is a bare StandbyStatus")
    func serverAnswersPoll() throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        _ = server.receive(try client.control(V2MachineFixture.peerDetailsJSON()))
        _ = try client.open(try #require(server.standbyDecided(.secondaryClient).sentFrames.first))
        let decide = server.receive(try client.control(#"{"CheckStandby":{"since":[1,2],"why":{"a":null}}}"#))
        guard case .decideStandby(let name, _)? = decide.first else {
            Issue.record("expected a decision, got \(decide)")
            return
        }
        #expect(name == "echo-client")
        let answer = server.standbyDecided(.primary)
        let status = try client.openControl(try #require(answer.sentFrames.first))
        #expect(status == #"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":false}}"#)
        #expect(answer.establishedSession != nil)
        // A decision nobody asked for does nothing.
        #expect(server.standbyDecided(.primary).isEmpty)
    }

    @Test("server: a frame while its standby decision is pending is refused")
    func serverFrameWhileDeciding() throws {
        var server = try f.server()
        let client = try f.handMadeClient(against: &server)
        _ = server.receive(try client.control(V2MachineFixture.peerDetailsJSON()))
        #expect(server.receive(try client.control(#"{"CheckStandby":{}}"#)).failure?.code == .protocolViolation)
        #expect(server.standbyTimerFired().isEmpty)
    }
}
