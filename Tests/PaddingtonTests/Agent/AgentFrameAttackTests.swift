import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import Paddington

/// Agent frames from a misbehaving peer (a raw protocol 2 client that announces agent frames and then
/// sends whatever it likes), and payloads from peers without agent frames crafted to look like them.
@Suite("Agent frames under attack")
struct AgentFrameAttackTests {
    /// A server with an `echo` route, a `slow` one and a message inbox; a raw client that announced
    /// agent frames.
    struct Target {
        let server: RunningMesh
        let client: RawProtocolTwoClient
        let inbox: Inbox
        let invitation: Invitation
        let port: Int

        /// Sends an agent frame's bytes as DATA.
        func send(_ bytes: [UInt8]) async throws { try await client.sendData(bytes) }

        /// The server's next agent frame (its DATA frames are agent frames once it saw ours).
        func nextAnswer(sourceLocation: SourceLocation = #_sourceLocation) async throws -> AgentFrame {
            let frame = try #require(try await client.receive(), "no answer", sourceLocation: sourceLocation)
            #expect(frame.type == .data, sourceLocation: sourceLocation)
            return try AgentFrame.decode(frame.body)
        }

        /// A good request still gets its reply: the link is up and serving.
        func expectServing(id: UInt64, sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await send(AgentFrame(kind: .request, id: id, route: "echo", deadlineMilliseconds: 5000, body: [1, 2]).encoded())
            let answer = try await nextAnswer(sourceLocation: sourceLocation)
            #expect(answer == AgentFrame(kind: .reply, id: id, body: [1, 2]), sourceLocation: sourceLocation)
            #expect(server.recorder.count(\.isDisconnected) == 0, sourceLocation: sourceLocation)
        }
    }

    func connect(options: MeshConfiguration = fastOptions()) async throws -> Target {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let inbox = Inbox()
        let server = RunningMesh(config, options: options) { mesh in
            mesh.onRequest("echo") { request, _ in Reply(bytes: request.bytes) }
            mesh.onRequest("slow") { _, _ in
                try await Task.sleep(for: .seconds(30))
                return Reply("late")
            }
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        let port = try await server.mesh.listeningPort()
        let client = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
        try await client.handshake()
        try await client.startSession(name: "client")
        try await client.sendControl(ControlMessage.agent.json())
        try await client.sendControl(ControlMessage.agentFrames.json())
        try await server.recorder.wait(for: "raw client connected") { $0.isConnected }
        return Target(server: server, client: client, inbox: inbox, invitation: invitation, port: port)
    }

    @Test("malformed agent frames are counted and dropped, or answered with an error when they carry a request id; the link stays up")
    func malformed() async throws {
        let target = try await connect()
        try await target.expectServing(id: 1)
        // Nothing to answer: dropped and counted.
        for bytes in [[0xFF], [1, 9] + [UInt8](repeating: 0, count: 20), AgentFrameTests.raw(kind: 0, id: 5, deadline: 0, route: [])] {
            try await target.send(bytes)
        }
        // Requests that fail after their id: answered with malformedAgentFrame.
        let answerable: [(UInt64, [UInt8])] = [
            (10, AgentFrameTests.raw(id: 10, deadline: 0)),
            (11, AgentFrameTests.raw(id: 11, deadline: .max)),
            (12, AgentFrameTests.raw(id: 12, headerCount: 3)),
            (13, AgentFrameTests.raw(id: 13, route: [0xC0])),
        ]
        for (id, bytes) in answerable {
            try await target.send(bytes)
            let answer = try await target.nextAnswer()
            #expect(answer.kind == .error && answer.id == id && answer.route == "malformedAgentFrame", "\(answer)")
        }
        #expect(target.server.mesh.statistics.malformedAgentFrames == 7)
        try await target.expectServing(id: 2)
        await target.client.close()
        await target.server.stop()
    }

    @Test("replies and errors for unknown ids are dropped and counted; cancels for unknown ids are ignored")
    func strays() async throws {
        let target = try await connect()
        try await target.send(AgentFrame(kind: .reply, id: 77, body: [1]).encoded())
        try await target.send(AgentFrame(kind: .error, id: 78, route: "remoteError", body: []).encoded())
        try await target.send(AgentFrame(kind: .cancel, id: 79).encoded())
        try await target.expectServing(id: 3)
        #expect(target.server.mesh.statistics.strayReplies == 2)
        #expect(target.server.mesh.statistics.malformedAgentFrames == 0)
        await target.client.close()
        await target.server.stop()
    }

    @Test("a duplicate id of a running request is refused; the first one is not disturbed and can still be cancelled")
    func duplicateIDs() async throws {
        let target = try await connect()
        let slow = try AgentFrame(kind: .request, id: 40, route: "slow", deadlineMilliseconds: 60_000).encoded()
        try await target.send(slow)
        try await Task.sleep(for: .milliseconds(100))
        try await target.send(slow)
        let answer = try await target.nextAnswer()
        #expect(answer.kind == .error && answer.id == 40 && answer.route == "malformedAgentFrame")
        #expect(String(decoding: answer.body, as: UTF8.self).contains("already running"))
        try await target.send(AgentFrame(kind: .cancel, id: 40).encoded())
        try await target.expectServing(id: 41)
        await target.client.close()
        await target.server.stop()
    }

    @Test("a request's deadline cancels its handler: no late reply is sent")
    func deadlineCancelsHandler() async throws {
        let target = try await connect()
        try await target.send(AgentFrame(kind: .request, id: 50, route: "slow", deadlineMilliseconds: 200).encoded())
        try await Task.sleep(for: .milliseconds(600))
        // The next answer is for the next request, not a late one for 50.
        try await target.expectServing(id: 51)
        await target.client.close()
        await target.server.stop()
    }

    @Test("a message frame is delivered to the message handlers, as bytes")
    func messageFrames() async throws {
        let target = try await connect()
        try await target.send(AgentFrame.message([0, 1, 0xFF]).encoded())
        try await target.inbox.wait(count: 1)
        #expect(target.inbox.all.first?.bytes == [0, 1, 0xFF])
        await target.client.close()
        await target.server.stop()
    }

    // MARK: Peers without agent frames

    /// Payloads that look like agent frames, or like the protocol 2 announcement.
    static func lookalikes() throws -> [String] {
        let request = AgentFrame(kind: .request, id: 1, route: "echo", deadlineMilliseconds: 1000, body: Array("hi".utf8))
        return [
            try request.encodedText(),
            try AgentFrame.message(Array("inner".utf8)).encodedText(),
            try AgentFrame(kind: .reply, id: 1, body: [1]).encodedText(),
            #"{"Agent":{"version":1}}"#,
            #"{"AgentFrames":{}}"#,
            String(decoding: try request.encoded().filter { $0 < 0x80 && $0 != 0 }, as: UTF8.self) + "x",
        ]
    }

    @Test("protocol 1: text from a peer without agent frames is a plain message, however much it looks like one", arguments: [true, false])
    func rustLookalikes(serverIsRustLike: Bool) async throws {
        // Either side may be the one without agent frames (a Rust client, or a Rust server).
        var other = fastOptions()
        other.identity = EngineIdentity(engine: "paddington", version: "0.32.2")
        other.identity.announcesAgentFrames = false
        let inbox = Inbox()
        let requests = NIOLockedValueBox(0)
        let pair = try await AgentPair.start(
            .off, serverOptions: serverIsRustLike ? fastOptions() : other, clientOptions: serverIsRustLike ? other : fastOptions()
        ) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
            mesh.onRequest("echo") { request, _ in
                requests.withLockedValue { $0 += 1 }
                return Reply(bytes: request.bytes)
            }
        }
        let payloads = try Self.lookalikes()
        for payload in payloads { try await pair.client.mesh.send(payload, to: "server") }
        try await inbox.wait(count: payloads.count)
        #expect(inbox.all.map(\.payload) == payloads)
        #expect(requests.withLockedValue { $0 } == 0)
        #expect(pair.server.mesh.statistics.malformedAgentFrames == 0)
        await pair.stop()
    }

    @Test("protocol 2: DATA from a peer that did not announce agent frames is a plain message, whatever its bytes")
    func protocolTwoLookalikes() async throws {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let inbox = Inbox()
        let requests = NIOLockedValueBox(0)
        let server = RunningMesh(config) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
            mesh.onRequest("echo") { request, _ in
                requests.withLockedValue { $0 += 1 }
                return Reply(bytes: request.bytes)
            }
        }
        let port = try await server.mesh.listeningPort()
        let client = try await RawProtocolTwoClient.connect(port: port, keys: invitation.keys)
        try await client.handshake()
        try await client.startSession(name: "client")
        // No `Agent` first: this client is another implementation of the document. A later `Agent` or
        // `AgentFrames` does not change that.
        let request = try AgentFrame(kind: .request, id: 1, route: "echo", deadlineMilliseconds: 1000, body: [7]).encoded()
        try await client.sendData(request)
        try await client.sendControl(ControlMessage.agent.json())
        try await client.sendData(request)
        try await inbox.wait(count: 2)
        #expect(inbox.all.map(\.bytes) == [request, request])
        #expect(requests.withLockedValue { $0 } == 0)
        #expect(server.mesh.statistics.malformedAgentFrames == 0)
        await expectCode(.unsupportedByPeer) { try await server.mesh.request("x", to: "client", timeout: .seconds(5)) }
        await client.close()
        await server.stop()
    }

    @Test("oversized bodies: a request too large for a frame is refused before sending; a reply too large becomes a remote error")
    func oversized() async throws {
        var options = fastOptions()
        options.maxFrameSize = 4096
        let pair = try await AgentPair.start(serverOptions: options, clientOptions: options) { mesh in
            mesh.onRequest("big") { _, _ in Reply(bytes: [UInt8](repeating: 1, count: 8192)) }
            mesh.onRequest("echo") { request, _ in Reply(bytes: request.bytes) }
        }
        await expectCode(.payloadTooLarge) {
            try await pair.client.mesh.request(bytes: [UInt8](repeating: 0, count: 8192), to: "server", route: "echo", timeout: .seconds(5))
        }
        let error = await expectCode(.remoteError) { try await pair.client.mesh.request("", to: "server", route: "big", timeout: .seconds(5)) }
        #expect(error?.message.contains("could not be sent") == true, "\(String(describing: error))")
        #expect(try await pair.client.mesh.request("ok", to: "server", route: "echo", timeout: .seconds(5)).payload == "ok")
        await pair.stop()
    }
}
