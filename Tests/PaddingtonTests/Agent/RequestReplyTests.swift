import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import Paddington

/// A server and a client over 127.0.0.1, both connected, on the protocol `policy` gives.
struct AgentPair {
    let server: RunningMesh
    let client: RunningMesh

    static func start(
        _ policy: ProtocolPolicy = .auto, serverOptions: MeshConfiguration = fastOptions(),
        clientOptions: MeshConfiguration = fastOptions(), serverMiddleware: [any RequestMiddleware] = [],
        clientMiddleware: [any RequestMiddleware] = [], server setup: (Mesh) -> Void = { _ in }
    ) async throws -> AgentPair {
        var config = try serverConfiguration()
        config.protocolPolicy = policy
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = RunningMesh(config, options: serverOptions, requestMiddleware: serverMiddleware, handlers: setup)
        let port = try await server.mesh.listeningPort()
        var clientConfig = try clientConfiguration(invitation: invitation, port: port)
        clientConfig.protocolPolicy = policy
        let client = RunningMesh(clientConfig, options: clientOptions, requestMiddleware: clientMiddleware)
        try await client.mesh.waitUntilConnected("server", timeout: .seconds(15))
        try await server.mesh.waitUntilConnected("client", timeout: .seconds(15))
        return AgentPair(server: server, client: client)
    }

    func stop() async {
        await client.stop()
        await server.stop()
    }
}

/// Records whether handlers started, ended and saw cancellation.
final class HandlerProbe: Sendable {
    private let state = NIOLockedValueBox((started: 0, cancelled: 0, finished: 0))
    var started: Int { state.withLockedValue { $0.started } }
    var cancelled: Int { state.withLockedValue { $0.cancelled } }
    var finished: Int { state.withLockedValue { $0.finished } }

    /// A handler that waits (up to a minute) until cancelled.
    var waitForever: RequestHandler {
        { _, _ in
            self.state.withLockedValue { $0.started += 1 }
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                self.state.withLockedValue { $0.cancelled += 1 }
                throw error
            }
            self.state.withLockedValue { $0.finished += 1 }
            return Reply("too late")
        }
    }

    func waitUntil(_ what: String = "condition", timeout: Duration = .seconds(10), _ condition: (HandlerProbe) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(self), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition(self), "timed out waiting for \(what)")
    }
}

struct AddRequest: Codable, Sendable { var a: Int; var b: Int }
struct AddResponse: Codable, Sendable, Equatable { var sum: Int }
struct Refusal: Error, CustomStringConvertible { var description: String { "no, thank you" } }

/// Expects `body` to throw a `PaddingtonError` with `code`; returns it.
@discardableResult
func expectCode<T>(_ code: PaddingtonError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async -> PaddingtonError? {
    do {
        let value = try await body()
        Issue.record("expected \(code), got \(value)", sourceLocation: sourceLocation)
    } catch let error as PaddingtonError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite("Request/reply over real sockets")
struct RequestReplyTests {
    static let protocols: [(ProtocolPolicy, Int)] = [(.auto, 2), (.off, 1)]

    @Test("a request gets its handler's reply, as text and bytes, with headers both ways", arguments: protocols)
    func reply(policy: ProtocolPolicy, version: Int) async throws {
        let pair = try await AgentPair.start(policy) { mesh in
            mesh.onRequest("echo") { request, context in
                Reply(bytes: request.bytes + Array(" from \(context.peer.name)".utf8), headers: ["seen": request.headers["x"] ?? "-"])
            }
            mesh.onRequest { request, _ in Reply("default: \(request.payload)") }
        }
        #expect(pair.client.mesh.connectedPeers.first?.protocolVersion == version)
        let reply = try await pair.client.mesh.request("hi", to: "server", route: "echo", headers: ["x": "y"], timeout: .seconds(5))
        #expect(reply.payload == "hi from client")
        #expect(reply.headers == ["seen": "y"])
        let binary = try await pair.client.mesh.request(bytes: [0, 0xFF], to: "server", route: "echo", timeout: .seconds(5))
        #expect(binary.bytes == [0, 0xFF] + Array(" from client".utf8))
        #expect(try await pair.client.mesh.request("x", to: "server", timeout: .seconds(5)).payload == "default: x")
        // The other way round too: the client answers the server.
        pair.client.mesh.onRequest("whoami") { _, context in Reply(context.mesh.configuration.name) }
        #expect(try await pair.server.mesh.request("", to: "client", route: "whoami", timeout: .seconds(5)).payload == "client")
        await pair.stop()
    }

    @Test("plain messages and requests share the link: both arrive, messages in order", arguments: protocols)
    func messagesAndRequests(policy: ProtocolPolicy, version: Int) async throws {
        let inbox = Inbox()
        let pair = try await AgentPair.start(policy) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
            mesh.onRequest { request, _ in Reply(request.payload.uppercased()) }
        }
        for n in 0..<20 {
            try await pair.client.mesh.send("m\(n)", to: "server")
            #expect(try await pair.client.mesh.request("r\(n)", to: "server", timeout: .seconds(5)).payload == "R\(n)")
        }
        try await inbox.wait(count: 20)
        #expect(inbox.all.map(\.payload) == (0..<20).map { "m\($0)" })
        #expect(pair.server.mesh.statistics.malformedAgentFrames == 0)
        await pair.stop()
    }

    @Test("64 requests in flight at once all get their own reply")
    func concurrent() async throws {
        let pair = try await AgentPair.start { mesh in
            mesh.onRequest { request, _ in
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...20)))
                return Reply("re:" + request.payload)
            }
        }
        let client = pair.client.mesh
        let replies = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for n in 0..<64 {
                group.addTask { (n, try await client.request("\(n)", to: "server", timeout: .seconds(10)).payload) }
            }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(replies == Dictionary(uniqueKeysWithValues: (0..<64).map { ($0, "re:\($0)") }))
        await pair.stop()
    }

    @Test("the deadline travels: the handler sees it, the caller gets deadlineExceeded, the handler is cancelled", arguments: protocols)
    func deadline(policy: ProtocolPolicy, version: Int) async throws {
        let probe = HandlerProbe()
        let seen = NIOLockedValueBox<Duration?>(nil)
        let pair = try await AgentPair.start(policy) { mesh in
            mesh.onRequest("slow") { request, context in
                seen.withLockedValue { $0 = context.timeRemaining }
                return try await probe.waitForever(request, context)
            }
        }
        // Long enough for the handler to start on a loaded machine, which the test waits for.
        let start = ContinuousClock.now
        let client = pair.client.mesh
        let call = Task { try await client.request("", to: "server", route: "slow", timeout: .seconds(2)) }
        try await probe.waitUntil("the handler to start") { $0.started == 1 }
        let error = await expectCode(.deadlineExceeded) { try await call.value }
        #expect(ContinuousClock.now - start >= .seconds(2))
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(error?.message.contains("may or may not have run") == true)
        let remaining = try #require(seen.withLockedValue { $0 })
        #expect(remaining > .zero && remaining <= .seconds(2), "\(remaining)")
        try await probe.waitUntil("the handler's cancellation") { $0.cancelled == 1 }
        #expect(probe.finished == 0)
        // The late answer is not sent: nothing stray arrives at the caller.
        try await Task.sleep(for: .milliseconds(100))
        #expect(pair.client.mesh.statistics.strayReplies == 0)
        await pair.stop()
    }

    @Test("cancelling the caller's task fails the request with cancelled and cancels the remote handler", arguments: protocols)
    func cancellation(policy: ProtocolPolicy, version: Int) async throws {
        let probe = HandlerProbe()
        let pair = try await AgentPair.start(policy) { mesh in mesh.onRequest("slow", probe.waitForever) }
        let client = pair.client.mesh
        let call = Task { try await client.request("", to: "server", route: "slow", timeout: .seconds(30)) }
        try await probe.waitUntil("the handler to start") { $0.started == 1 }
        call.cancel()
        await expectCode(.cancelled) { try await call.value }
        try await probe.waitUntil("the remote handler's cancellation") { $0.cancelled == 1 }
        await pair.stop()
    }

    @Test("a request to a peer that is not connected fails at once with peerNotConnected")
    func notConnected() async throws {
        let pair = try await AgentPair.start()
        await expectCode(.peerNotConnected) { try await pair.client.mesh.request("x", to: "nobody", timeout: .seconds(5)) }
        await expectCode(.peerNotConnected) { try await pair.client.mesh.request("x", to: "server", zone: "elsewhere", timeout: .seconds(5)) }
        await pair.stop()
    }

    @Test("a peer without agent frames (as a Rust peer) refuses requests at once, and nothing is sent to it", arguments: protocols)
    func unsupported(policy: ProtocolPolicy, version: Int) async throws {
        // Another implementation: protocol 1 as the Rust crate, or protocol 2 from the document alone.
        var other = fastOptions()
        other.identity = EngineIdentity(engine: version == 1 ? "paddington" : "independent", version: "1.0")
        other.identity.announcesAgentFrames = false
        let inbox = Inbox()
        let pair = try await AgentPair.start(policy, serverOptions: other) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        let start = ContinuousClock.now
        await expectCode(.unsupportedByPeer) { try await pair.client.mesh.request("x", to: "server", timeout: .seconds(10)) }
        await expectCode(.unsupportedByPeer) { try await pair.client.mesh.call("math.add", AddRequest(a: 1, b: 2), on: "server", as: AddResponse.self, timeout: .seconds(10)) }
        #expect(ContinuousClock.now - start < .seconds(5))
        // Plain messages still reach it, as they are (no agent framing).
        try await pair.client.mesh.send("plain", to: "server")
        try await inbox.wait(count: 1)
        #expect(inbox.all.map(\.payload) == ["plain"])
        #expect(pair.server.mesh.statistics.messagesReceived == 1)
        await pair.stop()
    }

    @Test("a protocol 2 peer that names our engine but never says whether it takes agent frames: the request ends at its deadline, nothing sent")
    func undecided() async throws {
        var silent = fastOptions()
        silent.identity.announcesAgentFrames = false
        let pair = try await AgentPair.start(serverOptions: silent)
        let error = await expectCode(.deadlineExceeded) { try await pair.client.mesh.request("x", to: "server", timeout: .milliseconds(300)) }
        #expect(error?.message.contains("nothing was sent") == true)
        #expect(pair.server.mesh.statistics.messagesReceived == 0)
        // Its first frame settles it: after any message from it, requests fail at once.
        try await pair.server.mesh.send("hello", to: "client")
        try await Task.sleep(for: .milliseconds(200))
        await expectCode(.unsupportedByPeer) { try await pair.client.mesh.request("x", to: "server", timeout: .seconds(30)) }
        await pair.stop()
    }

    @Test("remote failures arrive with their own codes: handler threw, a PaddingtonError, unknown route", arguments: protocols)
    func remoteErrors(policy: ProtocolPolicy, version: Int) async throws {
        let pair = try await AgentPair.start(policy) { mesh in
            mesh.onRequest("throws") { _, _ in throw Refusal() }
            mesh.onRequest("refuses") { _, _ in throw PaddingtonError(.invalidArgument, "the answer is 42") }
        }
        let client = pair.client.mesh
        let threw = await expectCode(.remoteError) { try await client.request("", to: "server", route: "throws", timeout: .seconds(5)) }
        #expect(threw?.message.contains("Refusal") == true && threw?.message.contains("no, thank you") == true, "\(String(describing: threw))")
        // A code that means something else to this caller ("nothing was sent", ...) arrives as remoteError,
        // naming the peer's code.
        let refused = await expectCode(.remoteError) { try await client.request("", to: "server", route: "refuses", timeout: .seconds(5)) }
        #expect(refused?.message.contains("invalidArgument") == true && refused?.message.contains("the answer is 42") == true)
        let unknown = await expectCode(.unknownRoute) { try await client.request("", to: "server", route: "nope", timeout: .seconds(5)) }
        #expect(unknown?.message.contains("'nope'") == true)
        // No default route registered: the empty route is unknown too.
        await expectCode(.unknownRoute) { try await client.request("", to: "server", timeout: .seconds(5)) }
        await pair.stop()
    }

    @Test("typed routes: a call decodes its reply; a body that does not decode is a bad request naming the field, and the handler does not run", arguments: protocols)
    func typedRoutes(policy: ProtocolPolicy, version: Int) async throws {
        let calls = NIOLockedValueBox(0)
        let pair = try await AgentPair.start(policy) { mesh in
            mesh.route("math.add") { (request: AddRequest, _) -> AddResponse in
                calls.withLockedValue { $0 += 1 }
                return AddResponse(sum: request.a + request.b)
            }
        }
        let client = pair.client.mesh
        #expect(try await client.call("math.add", AddRequest(a: 2, b: 3), on: "server", as: AddResponse.self, timeout: .seconds(5)) == AddResponse(sum: 5))
        let wrongType = await expectCode(.badRequest) { try await client.request(#"{"a":1,"b":"two"}"#, to: "server", route: "math.add", timeout: .seconds(5)) }
        #expect(wrongType?.message.contains("field 'b' is not an integer") == true, "\(String(describing: wrongType))")
        let missing = await expectCode(.badRequest) { try await client.request(#"{"a":1}"#, to: "server", route: "math.add", timeout: .seconds(5)) }
        #expect(missing?.message.contains("field 'b' is missing") == true, "\(String(describing: missing))")
        await expectCode(.badRequest) { try await client.request("{", to: "server", route: "math.add", timeout: .seconds(5)) }
        #expect(calls.withLockedValue { $0 } == 1)
        // A reply that does not decode as the caller's type says so.
        struct Other: Decodable { var product: Int }
        let mismatch = await expectCode(.invalidJSON) { try await client.call("math.add", AddRequest(a: 1, b: 1), on: "server", as: Other.self, timeout: .seconds(5)) }
        #expect(mismatch?.message.contains("field 'product' is missing") == true)
        await pair.stop()
    }

    @Test("requests in flight fail at once with linkLost when their link drops", arguments: protocols)
    func linkLost(policy: ProtocolPolicy, version: Int) async throws {
        let probe = HandlerProbe()
        let pair = try await AgentPair.start(policy) { mesh in mesh.onRequest("slow", probe.waitForever) }
        let client = pair.client.mesh
        let calls = (0..<3).map { _ in Task { try await client.request("", to: "server", route: "slow", timeout: .seconds(60)) } }
        try await probe.waitUntil("three handlers") { $0.started == 3 }
        let start = ContinuousClock.now
        pair.server.mesh.disconnect("client")
        for call in calls {
            let error = await expectCode(.linkLost) { try await call.value }
            #expect(error?.message.contains("may or may not have run") == true)
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        // The server's handlers were cancelled with the link.
        try await probe.waitUntil("the handlers' cancellation") { $0.cancelled == 3 }
        await pair.stop()
    }

    @Test("the per-peer cap on requests in flight fails the next one at once with tooManyRequests, nothing sent")
    func inFlightCap() async throws {
        let probe = HandlerProbe()
        var options = fastOptions()
        options.maxRequestsInFlightPerPeer = 2
        let pair = try await AgentPair.start(clientOptions: options) { mesh in mesh.onRequest("slow", probe.waitForever) }
        let client = pair.client.mesh
        let calls = (0..<2).map { _ in Task { try await client.request("", to: "server", route: "slow", timeout: .seconds(30)) } }
        try await probe.waitUntil("two handlers") { $0.started == 2 }
        await expectCode(.tooManyRequests) { try await client.request("", to: "server", route: "slow", timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(probe.started == 2)
        for call in calls { call.cancel() }
        for call in calls { await expectCode(.cancelled) { try await call.value } }
        // The slots are free again.
        pair.server.mesh.onRequest("fast") { _, _ in Reply("ok") }
        #expect(try await client.request("", to: "server", route: "fast", timeout: .seconds(5)).payload == "ok")
        await pair.stop()
    }

    @Test("a peer running as many of our requests as it allows answers the next with overloaded")
    func overloaded() async throws {
        let probe = HandlerProbe()
        var options = fastOptions()
        options.maxRequestHandlersPerPeer = 1
        let pair = try await AgentPair.start(serverOptions: options) { mesh in mesh.onRequest("slow", probe.waitForever) }
        let client = pair.client.mesh
        let first = Task { try await client.request("", to: "server", route: "slow", timeout: .seconds(30)) }
        try await probe.waitUntil("the first handler") { $0.started == 1 }
        await expectCode(.overloaded) { try await client.request("", to: "server", route: "slow", timeout: .seconds(5)) }
        first.cancel()
        await expectCode(.cancelled) { try await first.value }
        await pair.stop()
    }

    @Test("fast handlers give their slot back: many more requests than the per-peer limit, one after another, all succeed")
    func slotsComeBack() async throws {
        var options = fastOptions()
        options.maxRequestHandlersPerPeer = 2
        let pair = try await AgentPair.start(serverOptions: options) { mesh in mesh.onRequest { request, _ in Reply(bytes: request.bytes) } }
        for n in 0..<300 {
            let reply = try await pair.client.mesh.request("\(n)", to: "server", timeout: .seconds(10))
            #expect(reply.payload == "\(n)")
            _ = try await pair.client.mesh.ping("server", timeout: .seconds(10))
            await expectCode(.unknownRoute) { try await pair.client.mesh.request("", to: "server", route: "none", timeout: .seconds(10)) }
        }
        await pair.stop()
    }

    @Test("a request whose link has no send budget left (the peer stopped reading) still ends at its deadline")
    func deadlineWhileBudgetSpent() async throws {
        var serverOptions = fastOptions()
        serverOptions.inboundQueueDepth = 1
        var clientOptions = fastOptions()
        clientOptions.outboundBufferSize = 64 << 10
        let pair = try await AgentPair.start(serverOptions: serverOptions, clientOptions: clientOptions) { mesh in
            // The first message holds the only delivery slot and the queue is full behind it: the server
            // stops reading from the client.
            mesh.onMessage { _, _ in try await Task.sleep(for: .seconds(60)) }
            mesh.onRequest { _, _ in Reply("served") }
        }
        let client = pair.client.mesh
        let filler = String(repeating: "x", count: 60_000)
        let flood = Task {
            for _ in 0..<2000 { try await client.send(filler, to: "server") }
        }
        // Wait (bounded) until sends block: the kernel's buffers are full and the budget is spent. No
        // progress for a whole second (a busy machine can pause a sender for a moment).
        var blocked = false
        var still = 0
        for _ in 0..<300 {
            let before = client.statistics.messagesSent
            try await Task.sleep(for: .milliseconds(100))
            still = client.statistics.messagesSent == before && before > 0 ? still + 1 : 0
            if still >= 10 { blocked = true; break }
        }
        #expect(blocked, "the client's sends never blocked")
        let start = ContinuousClock.now
        await expectCode(.deadlineExceeded) { try await client.request("x", to: "server", timeout: .milliseconds(500)) }
        #expect(ContinuousClock.now - start < .seconds(5))
        // Cancelled while waiting for the budget: cancelled, at once.
        let call = Task { try await client.request("x", to: "server", timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(100))
        call.cancel()
        await expectCode(.cancelled) { try await call.value }
        flood.cancel()
        await pair.stop()
    }

    @Test("bad timeouts are refused before anything is sent")
    func badTimeouts() async throws {
        let pair = try await AgentPair.start()
        for timeout in [Duration.zero, .seconds(-1), .seconds(86_401)] {
            await expectCode(.invalidArgument) { try await pair.client.mesh.request("", to: "server", timeout: timeout) }
        }
        await pair.stop()
    }

    @Test("every agent answers the built-in ping and info routes", arguments: protocols)
    func builtIns(policy: ProtocolPolicy, version: Int) async throws {
        let pair = try await AgentPair.start(policy)
        let rtt = try await pair.client.mesh.ping("server", timeout: .seconds(5))
        #expect(rtt > .zero && rtt < .seconds(5))
        let info = try await pair.client.mesh.call(AgentLayer.infoRoute, [String: String](), on: "server", as: ServiceInfo.self, timeout: .seconds(5))
        #expect(info.name == "server")
        #expect(info.engine == "swift-paddington")
        #expect(info.links == [ServiceInfo.Link(peer: "client", zone: "default", protocol: version, direction: "in")])
        #expect(info.uptimeSeconds > 0)
        await pair.stop()
    }
}
