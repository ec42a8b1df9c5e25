import Foundation

// Request/reply and typed routes (docs/agents.md).
extension Mesh {
    // MARK: Answering

    /// Registers the handler for requests to `route` (the empty route is the default one, called by a
    /// request that names none). Registering again replaces it.
    ///
    /// The handler runs on a task of its own per request, up to
    /// ``MeshConfiguration/maxRequestHandlersPerPeer`` at once per peer. Its task is cancelled when the
    /// request's deadline passes, when the caller cancels, and when the link ends. A request for a
    /// route with no handler is answered with `PaddingtonError.Code.unknownRoute`.
    ///
    /// - Parameters:
    ///   - route: the route it answers; empty for the default one.
    ///   - middleware: this route's own middleware, inside the mesh's (``RequestMiddleware``).
    ///   - handler: returns the reply, or throws.
    public nonisolated func onRequest(_ route: String = "", middleware: [any RequestMiddleware] = [], _ handler: @escaping RequestHandler) {
        if middleware.isEmpty {
            core.agents.routes.register(route, handler)
        } else {
            core.agents.routes.register(route) { request, context in
                try await MiddlewareChain.handle(middleware, request, context, handler: handler)
            }
        }
    }

    /// Removes the handler of `route`.
    ///
    /// - Returns: whether there was one.
    @discardableResult
    public nonisolated func removeRequestHandler(_ route: String = "") -> Bool {
        core.agents.routes.remove(route)
    }

    /// Registers a typed handler for `route`: the request body is decoded from JSON as `Input` before
    /// the handler runs, and its result is encoded as the JSON reply.
    ///
    /// A body that does not decode is answered with `PaddingtonError.Code.badRequest`, naming the
    /// field and what was wrong; the handler does not run.
    ///
    /// ```swift
    /// mesh.route("math.add") { (request: AddRequest, context) in
    ///     AddResponse(sum: request.a + request.b)
    /// }
    /// ```
    public nonisolated func route<Input: Decodable & SendableMetatype, Output: Encodable & SendableMetatype>(
        _ route: String, middleware: [any RequestMiddleware] = [],
        _ handler: @escaping @Sendable (Input, RequestContext) async throws -> Output
    ) {
        onRequest(route, middleware: middleware) { request, context in
            let input: Input
            do {
                input = try JSONDecoder().decode(Input.self, from: Data(request.bytes))
            } catch {
                throw PaddingtonError(.badRequest, "route '\(route)' takes \(Input.self): \(JSONProblem.describe(error))")
            }
            let output = try await handler(input, context)
            return Reply(bytes: [UInt8](try JSONEncoder().encode(output)), headers: ["content-type": "application/json"])
        }
    }

    // MARK: Asking

    /// Sends a text request to `name@zone` and waits for its reply.
    ///
    /// - Parameters:
    ///   - payload: the request body.
    ///   - name: the peer's name.
    ///   - zone: the peer's zone.
    ///   - route: the peer's route; empty for its default handler.
    ///   - headers: travel with the request (middleware and tracing add theirs).
    ///   - timeout: the deadline, sent with the request: the peer's handler is cancelled when it passes.
    /// - Returns: the reply.
    /// - Throws: a `PaddingtonError` whose code says what happened:
    ///   `PaddingtonError.Code.deadlineExceeded`, `PaddingtonError.Code.peerNotConnected`,
    ///   `PaddingtonError.Code.unsupportedByPeer` (a Rust peer: nothing was sent),
    ///   `PaddingtonError.Code.remoteError`, `PaddingtonError.Code.unknownRoute`,
    ///   `PaddingtonError.Code.badRequest` and `PaddingtonError.Code.overloaded` (the peer's answer),
    ///   `PaddingtonError.Code.linkLost` (the handler may or may not have run),
    ///   `PaddingtonError.Code.cancelled` (this task was cancelled; the peer was told),
    ///   `PaddingtonError.Code.tooManyRequests` (nothing was sent), `PaddingtonError.Code.payloadTooLarge`.
    public nonisolated func request(
        _ payload: String, to name: String, zone: String = "default", route: String = "",
        headers: [String: String] = [:], timeout: Duration
    ) async throws -> Reply {
        try await request(bytes: Array(payload.utf8), to: name, zone: zone, route: route, headers: headers, timeout: timeout)
    }

    /// Sends a request of bytes to `name@zone` and waits for its reply; see
    /// ``request(_:to:zone:route:headers:timeout:)``.
    public nonisolated func request(
        bytes: [UInt8], to name: String, zone: String = "default", route: String = "",
        headers: [String: String] = [:], timeout: Duration
    ) async throws -> Reply {
        guard timeout > .zero, timeout <= .milliseconds(Int64(AgentFrame.Limits.maxDeadlineMilliseconds)) else {
            throw PaddingtonError(.invalidArgument, "a request's timeout must be more than zero and at most one day")
        }
        let request = OutboundRequest(
            peer: PeerID(name: name, zone: zone), route: route, headers: headers, bytes: bytes, timeout: timeout,
            deadline: .now + timeout)
        let core = self.core
        return try await MiddlewareChain.send(core.agents.middleware, request) { request in
            guard let link = core.registry.link(for: request.peer) else {
                throw PaddingtonError(.peerNotConnected, "\(request.peer) is not connected; nothing was sent")
            }
            let left = request.deadline - .now
            guard left > .zero else {
                throw PaddingtonError(.deadlineExceeded, "the timeout of \(request.timeout) passed before the request was sent; nothing was sent")
            }
            return try await core.agents.request(request.bytes, route: request.route, headers: request.headers, on: link, timeout: left)
        }
    }

    /// Calls a typed route on `name@zone`: `input` is sent as JSON and the reply decoded as `Output`.
    ///
    /// - Throws: as ``request(_:to:zone:route:headers:timeout:)``, and `PaddingtonError.Code.invalidJSON`
    ///   when the reply does not decode as `Output`.
    public nonisolated func call<Input: Encodable, Output: Decodable>(
        _ route: String, _ input: Input, on name: String, zone: String = "default",
        as output: Output.Type = Output.self, timeout: Duration
    ) async throws -> Output {
        let body = [UInt8](try JSONEncoder().encode(input))
        let reply = try await request(bytes: body, to: name, zone: zone, route: route, timeout: timeout)
        do {
            return try JSONDecoder().decode(Output.self, from: Data(reply.bytes))
        } catch {
            throw PaddingtonError(.invalidJSON, "the reply of route '\(route)' is not a \(Output.self): \(JSONProblem.describe(error))")
        }
    }

    /// Sends an empty request to the peer's built-in `paddington.ping` route and returns the round-trip
    /// time. Every agent of ours answers it.
    public nonisolated func ping(_ name: String, zone: String = "default", timeout: Duration) async throws -> Duration {
        let start = ContinuousClock.now
        _ = try await request(bytes: [], to: name, zone: zone, route: AgentLayer.pingRoute, timeout: timeout)
        return .now - start
    }

    /// What this service answers on the built-in `paddington.info` route.
    public nonisolated var serviceInfo: ServiceInfo {
        ServiceInfo(
            name: configuration.name, engine: options.identity.engine, version: options.identity.version,
            uptimeSeconds: Double((ContinuousClock.now - core.createdAt).nanoseconds) / 1e9,
            links: connectedPeers.map {
                ServiceInfo.Link(peer: $0.id.name, zone: $0.id.zone, protocol: $0.protocolVersion, direction: $0.weDialled ? "out" : "in")
            })
    }
}
