import Logging

/// Middleware that logs every request in both directions when it ends: peer, route, outcome and
/// duration. Successes at `level` (default `debug`); failures at `level` too when the peer caused them
/// (unknown route, bad request), and at `notice` otherwise.
public struct RequestLogging: RequestMiddleware {
    private let logger: Logger
    private let level: Logger.Level

    /// Logs to `logger` (the mesh's logger is a good choice).
    public init(logger: Logger, level: Logger.Level = .debug) {
        self.logger = logger
        self.level = level
    }

    public func handle(_ request: Request, context: RequestContext, next: Next) async throws -> Reply {
        try await log("request served", peer: context.peer, route: request.route) { try await next(request, context) }
    }

    public func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply {
        try await log("request sent", peer: request.peer, route: request.route) { try await next(request) }
    }

    private func log(_ what: Logger.Message, peer: PeerID, route: String, _ body: () async throws -> Reply) async throws -> Reply {
        let start = ContinuousClock.now
        do {
            let reply = try await body()
            logger.log(level: level, what, metadata: metadata(peer, route, "ok", start))
            return reply
        } catch {
            let code = (error as? PaddingtonError)?.code
            let strangers: Set<PaddingtonError.Code> = [.unknownRoute, .badRequest, .malformedAgentFrame]
            logger.log(level: code.map(strangers.contains) == true ? level : max(level, .notice), what,
                       metadata: metadata(peer, route, code?.description ?? "error", start).merging(["error": "\(error)"]) { $1 })
            throw error
        }
    }

    private func metadata(_ peer: PeerID, _ route: String, _ outcome: String, _ start: ContinuousClock.Instant) -> Logger.Metadata {
        let elapsed = ContinuousClock.now - start
        return ["peer": "\(peer)", "route": "\(route)", "outcome": "\(outcome)", "duration_ms": "\(Double(elapsed.nanoseconds) / 1e6)"]
    }
}
