import InMemoryLogging
import Logging
import MetricsTestKit
import NIOConcurrencyHelpers
import Testing
@testable import Paddington

/// Records what each middleware saw, in order.
final class Trail: Sendable {
    private let entries = NIOLockedValueBox<[String]>([])
    func add(_ entry: String) { entries.withLockedValue { $0.append(entry) } }
    var all: [String] { entries.withLockedValue { $0 } }
}

/// Adds a header on the way out, records what it sees on the way in, and refuses the route `forbidden`.
struct Tagging: RequestMiddleware {
    let name: String
    let trail: Trail

    func handle(_ request: Request, context: RequestContext, next: Next) async throws -> Reply {
        trail.add("\(name) in \(request.route) from \(context.peer.name) tag=\(request.headers["tag"] ?? "-") deadline=\(context.timeRemaining > .zero)")
        if request.route == "forbidden" { throw PaddingtonError(.badRequest, "\(name) refuses route 'forbidden'") }
        var request = request
        request.headers["seen-by", default: ""] += name
        var reply = try await next(request, context)
        reply.headers["\(name)-was-here"] = "yes"
        return reply
    }

    func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply {
        trail.add("\(name) out \(request.route) to \(request.peer.name)")
        var request = request
        request.headers["tag"] = name
        return try await next(request)
    }
}

@Suite("Request middleware")
struct MiddlewareTests {
    @Test("the mesh's chain runs in order around the route's own; both see route, headers, peer and deadline, and annotate both ways")
    func chains() async throws {
        let trail = Trail()
        let pair = try await AgentPair.start(
            serverMiddleware: [Tagging(name: "a", trail: trail), Tagging(name: "b", trail: trail)],
            clientMiddleware: [Tagging(name: "c", trail: trail)]
        ) { mesh in
            mesh.onRequest("echo", middleware: [Tagging(name: "r", trail: trail)]) { request, _ in
                Reply(request.headers["seen-by"] ?? "")
            }
            mesh.onRequest("forbidden") { _, _ in Reply("never") }
        }
        let reply = try await pair.client.mesh.request("", to: "server", route: "echo", timeout: .seconds(5))
        #expect(reply.payload == "abr")
        #expect(reply.headers == ["a-was-here": "yes", "b-was-here": "yes", "r-was-here": "yes"])
        #expect(trail.all == [
            "c out echo to server",
            "a in echo from client tag=c deadline=true",
            "b in echo from client tag=c deadline=true",
            "r in echo from client tag=c deadline=true",
        ])
        // A middleware refuses: the caller gets its code and the handler does not run.
        let refused = await expectCode(.badRequest) { try await pair.client.mesh.request("", to: "server", route: "forbidden", timeout: .seconds(5)) }
        #expect(refused?.message.contains("a refuses") == true)
        await pair.stop()
    }

    @Test("outbound middleware may refuse before anything is sent")
    func outboundRefusal() async throws {
        struct Gate: RequestMiddleware {
            func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply {
                guard request.route != "closed" else { throw PaddingtonError(.invalidArgument, "the gate is closed") }
                return try await next(request)
            }
        }
        let calls = NIOLockedValueBox(0)
        let pair = try await AgentPair.start(clientMiddleware: [Gate()]) { mesh in
            mesh.onRequest("closed") { _, _ in calls.withLockedValue { $0 += 1 }; return Reply("") }
        }
        await expectCode(.invalidArgument) { try await pair.client.mesh.request("", to: "server", route: "closed", timeout: .seconds(5)) }
        try await Task.sleep(for: .milliseconds(100))
        #expect(calls.withLockedValue { $0 } == 0)
        await pair.stop()
    }

    @Test("RequestMetrics times each request by direction, route and outcome; an unknown route is labelled 'unknown'")
    func metrics() async throws {
        let serverMetrics = TestMetrics(), clientMetrics = TestMetrics()
        let pair = try await AgentPair.start(
            serverMiddleware: [RequestMetrics(service: "server", factory: serverMetrics)],
            clientMiddleware: [RequestMetrics(service: "client", factory: clientMetrics)]
        ) { mesh in
            mesh.onRequest("ok") { _, _ in Reply("fine") }
        }
        for _ in 0..<3 { _ = try await pair.client.mesh.request("", to: "server", route: "ok", timeout: .seconds(5)) }
        // Routes the server does not have, each a new name: one series, not one per name.
        let strangers = ["missing", "random-1", "random-2"]
        for route in strangers {
            await expectCode(.unknownRoute) { try await pair.client.mesh.request("", to: "server", route: route, timeout: .seconds(5)) }
        }
        let served = try serverMetrics.expectTimer(RequestMetrics.label, [("service", "server"), ("direction", "in"), ("route", "ok"), ("outcome", "ok")])
        #expect(served.values.count == 3)
        #expect(served.values.allSatisfy { $0 > 0 })
        let unknown = try serverMetrics.expectTimer(RequestMetrics.label, [("service", "server"), ("direction", "in"), ("route", "unknown"), ("outcome", "unknownRoute")])
        #expect(unknown.values.count == strangers.count)
        let sent = try clientMetrics.expectTimer(RequestMetrics.label, [("service", "client"), ("direction", "out"), ("route", "ok"), ("outcome", "ok")])
        #expect(sent.values.count == 3)
        let failed = try clientMetrics.expectTimer(RequestMetrics.label, [("service", "client"), ("direction", "out"), ("route", "unknown"), ("outcome", "unknownRoute")])
        #expect(failed.values.count == strangers.count)
        // No series carries a name the peer made up.
        for metrics in [serverMetrics, clientMetrics] {
            let routes = Set(metrics.timers(label: RequestMetrics.label).compactMap { timer in timer.dimensions.first { $0.0 == "route" }?.1 })
            #expect(routes == ["ok", "unknown"])
            #expect(metrics.timers(label: RequestMetrics.label).count == 2)
        }
        await pair.stop()
    }

    @Test("RequestLogging logs each request with its peer, route, outcome and duration; a failure we caused at notice")
    func logging() async throws {
        let logs = InMemoryLogHandler()
        let logger = Logger(label: "requests") { _ in logs }
        let pair = try await AgentPair.start(
            serverMiddleware: [RequestLogging(logger: logger, level: .info)]
        ) { mesh in
            mesh.onRequest("ok") { _, _ in Reply("fine") }
            mesh.onRequest("fails") { _, _ in throw Refusal() }
        }
        _ = try await pair.client.mesh.request("", to: "server", route: "ok", timeout: .seconds(5))
        await expectCode(.remoteError) { try await pair.client.mesh.request("", to: "server", route: "fails", timeout: .seconds(5)) }
        await expectCode(.unknownRoute) { try await pair.client.mesh.request("", to: "server", route: "nope", timeout: .seconds(5)) }
        let entries = logs.entries.filter { "\($0.message)" == "request served" }
        #expect(entries.count == 3)
        let byRoute = Dictionary(entries.map { ("\($0.metadata["route"] ?? "")", $0) }) { first, _ in first }
        #expect(byRoute["ok"]?.level == .info && byRoute["ok"]?.metadata["outcome"] == "ok")
        #expect(byRoute["ok"]?.metadata["peer"] == "client@default" && byRoute["ok"]?.metadata["duration_ms"] != nil)
        #expect(byRoute["fails"]?.level == .notice && byRoute["fails"]?.metadata["outcome"] == "error")
        #expect(byRoute["nope"]?.level == .info && byRoute["nope"]?.metadata["outcome"] == "unknownRoute")
        await pair.stop()
    }
}
