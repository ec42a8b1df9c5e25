import Tracing

/// Middleware that carries trace context across agents: on a request this service sends, it starts a
/// client span and injects its context into the request's headers with the tracer's propagation (with a
/// W3C tracer, `traceparent`); on a request it answers, it extracts the caller's context from the
/// headers and runs the handler in a server span that continues the caller's trace.
///
/// ```swift
/// let mesh = Mesh(configuration: configuration, requestMiddleware: [RequestTracing(tracer: InstrumentationSystem.tracer)], logger: logger)
/// ```
public struct RequestTracing: RequestMiddleware {
    private let tracer: any Tracer

    /// Tracing with `tracer` (pass `InstrumentationSystem.tracer` for the bootstrapped one).
    public init(tracer: any Tracer) {
        self.tracer = tracer
    }

    public func handle(_ request: Request, context: RequestContext, next: Next) async throws -> Reply {
        try await Self.serve(tracer, request, context, next)
    }

    public func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply {
        try await Self.ask(tracer, request, next)
    }

    private static func serve<T: Tracer>(_ tracer: T, _ request: Request, _ context: RequestContext, _ next: Next) async throws -> Reply {
        var caller = ServiceContext.current ?? .topLevel
        tracer.extract(request.headers, into: &caller, using: HeaderPropagation())
        let span = tracer.startSpan(spanName(request.route), context: caller, ofKind: .server)
        span.attributes["paddington.peer"] = "\(context.peer)"
        span.attributes["paddington.route"] = request.route
        defer { span.end() }
        do {
            return try await ServiceContext.withValue(span.context) { try await next(request, context) }
        } catch {
            span.recordError(error)
            throw error
        }
    }

    private static func ask<T: Tracer>(_ tracer: T, _ request: OutboundRequest, _ next: SendNext) async throws -> Reply {
        let span = tracer.startSpan(spanName(request.route), context: ServiceContext.current ?? .topLevel, ofKind: .client)
        span.attributes["paddington.peer"] = "\(request.peer)"
        span.attributes["paddington.route"] = request.route
        defer { span.end() }
        var request = request
        tracer.inject(span.context, into: &request.headers, using: HeaderPropagation())
        do {
            return try await next(request)
        } catch {
            span.recordError(error)
            throw error
        }
    }

    private static func spanName(_ route: String) -> String { route.isEmpty ? "paddington.request" : route }
}

/// Reads and writes trace context in agent frame headers.
struct HeaderPropagation: Extractor, Injector {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
