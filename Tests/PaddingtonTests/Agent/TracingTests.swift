import InMemoryTracing
import NIOConcurrencyHelpers
import Testing
import Tracing
@testable import Paddington

@Suite("Tracing across agents")
struct TracingTests {
    @Test("a span started in one agent continues in the next: same trace, the server span's parent is the client span")
    func continuesTrace() async throws {
        let clientTracer = InMemoryTracer(), serverTracer = InMemoryTracer()
        let seen = NIOLockedValueBox<[String: String]>([:])
        let pair = try await AgentPair.start(
            serverMiddleware: [RequestTracing(tracer: serverTracer)],
            clientMiddleware: [RequestTracing(tracer: clientTracer)]
        ) { mesh in
            mesh.onRequest("traced") { request, _ in
                seen.withLockedValue { $0 = request.headers }
                // The handler runs inside the server span.
                return Reply(ServiceContext.current?.inMemorySpanContext?.traceID ?? "none")
            }
        }
        // A span of the caller's own, around the request.
        let reply = try await clientTracer.withSpan("caller work") { _ in
            try await pair.client.mesh.request("", to: "server", route: "traced", timeout: .seconds(5))
        }
        let clientSpans = clientTracer.finishedSpans, serverSpans = serverTracer.finishedSpans
        let work = try #require(clientSpans.first { $0.operationName == "caller work" })
        let call = try #require(clientSpans.first { $0.operationName == "traced" })
        let served = try #require(serverSpans.first { $0.operationName == "traced" })
        #expect(call.kind == .client && served.kind == .server)
        #expect(call.spanContext.traceID == work.spanContext.traceID)
        #expect(call.spanContext.parentSpanID == work.spanContext.spanID)
        #expect(served.spanContext.traceID == work.spanContext.traceID)
        #expect(served.spanContext.parentSpanID == call.spanContext.spanID)
        #expect(reply.payload == work.spanContext.traceID)
        #expect(seen.withLockedValue { $0[InMemoryTracer.traceIDKey] } == work.spanContext.traceID)
        await pair.stop()
    }

    @Test("a failed request records its error on both spans")
    func errors() async throws {
        let clientTracer = InMemoryTracer(), serverTracer = InMemoryTracer()
        let pair = try await AgentPair.start(
            serverMiddleware: [RequestTracing(tracer: serverTracer)], clientMiddleware: [RequestTracing(tracer: clientTracer)]
        ) { mesh in
            mesh.onRequest("fails") { _, _ in throw Refusal() }
        }
        await expectCode(.remoteError) { try await pair.client.mesh.request("", to: "server", route: "fails", timeout: .seconds(5)) }
        #expect(clientTracer.finishedSpans.first?.errors.count == 1)
        #expect(serverTracer.finishedSpans.first?.errors.count == 1)
        await pair.stop()
    }
}
