/// Middleware around requests, in both directions: it sees the route, the headers, the peer and the
/// deadline, and can refuse (throw), annotate (change the headers or the body) or time the call.
///
/// Give a mesh its chain in ``Mesh/init(configuration:options:inboundInterceptors:outboundInterceptors:requestMiddleware:eventLoopGroup:logger:)``
/// (every request, in order) and a route its own in ``Mesh/onRequest(_:middleware:_:)`` (inside the
/// mesh's). Both methods have defaults that pass the call on, so a middleware implements the side it
/// cares about.
///
/// ```swift
/// struct RequireTenant: RequestMiddleware {
///     func handle(_ request: Request, context: RequestContext, next: RequestMiddleware.Next) async throws -> Reply {
///         guard request.headers["tenant"] != nil else { throw PaddingtonError(.badRequest, "no tenant header") }
///         return try await next(request, context)
///     }
/// }
/// ```
public protocol RequestMiddleware: Sendable {
    /// The rest of the inbound chain, ending in the route's handler.
    typealias Next = @Sendable (Request, RequestContext) async throws -> Reply
    /// The rest of the outbound chain, ending in the link.
    typealias SendNext = @Sendable (OutboundRequest) async throws -> Reply

    /// Around the handler of a request this service answers.
    func handle(_ request: Request, context: RequestContext, next: Next) async throws -> Reply

    /// Around a request this service sends.
    func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply
}

extension RequestMiddleware {
    public func handle(_ request: Request, context: RequestContext, next: Next) async throws -> Reply {
        try await next(request, context)
    }

    public func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply {
        try await next(request)
    }
}

/// A request on its way out, as outbound middleware sees it.
public struct OutboundRequest: Sendable {
    /// The peer it goes to.
    public var peer: PeerID
    /// The peer's route.
    public var route: String
    /// Headers; middleware may add its own (tracing adds `traceparent`).
    public var headers: [String: String]
    /// The body.
    public var bytes: [UInt8]
    /// The caller's timeout, from the moment it called.
    public var timeout: Duration
    /// When the caller stops waiting.
    public let deadline: ContinuousClock.Instant
}

/// Runs a request through a middleware chain.
enum MiddlewareChain {
    static func handle(_ chain: [any RequestMiddleware], _ request: Request, _ context: RequestContext, handler: @escaping RequestMiddleware.Next) async throws -> Reply {
        if chain.isEmpty { return try await handler(request, context) }
        return try await handle(chain[...], request, context, handler: handler)
    }

    private static func handle(_ chain: ArraySlice<any RequestMiddleware>, _ request: Request, _ context: RequestContext, handler: @escaping RequestMiddleware.Next) async throws -> Reply {
        guard let first = chain.first else { return try await handler(request, context) }
        let rest = chain.dropFirst()
        return try await first.handle(request, context: context) { request, context in
            try await handle(rest, request, context, handler: handler)
        }
    }

    static func send(_ chain: [any RequestMiddleware], _ request: OutboundRequest, transmit: @escaping RequestMiddleware.SendNext) async throws -> Reply {
        if chain.isEmpty { return try await transmit(request) }
        return try await send(chain[...], request, transmit: transmit)
    }

    private static func send(_ chain: ArraySlice<any RequestMiddleware>, _ request: OutboundRequest, transmit: @escaping RequestMiddleware.SendNext) async throws -> Reply {
        guard let first = chain.first else { return try await transmit(request) }
        let rest = chain.dropFirst()
        return try await first.send(request) { request in try await send(rest, request, transmit: transmit) }
    }
}
