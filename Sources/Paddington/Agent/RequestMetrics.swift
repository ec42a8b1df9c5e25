import CoreMetrics

/// Middleware that times every request with swift-metrics: the timer `paddington_request_duration`
/// (nanoseconds) with the dimensions `service`, `direction` (`in` for requests this service answers,
/// `out` for those it sends), `route` and `outcome` (`ok` or the error code). A no-op until the
/// application bootstraps a metrics backend.
public struct RequestMetrics: RequestMiddleware {
    /// The timer's label.
    public static let label = "paddington_request_duration"
    private let service: String
    private let factory: any MetricsFactory

    /// Metrics for the service named `service` (its ``ServiceConfiguration/name``), recorded by `factory`
    /// (by default the backend bootstrapped in `MetricsSystem`).
    public init(service: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.service = service
        self.factory = factory
    }

    public func handle(_ request: Request, context: RequestContext, next: Next) async throws -> Reply {
        try await time("in", request.route) { try await next(request, context) }
    }

    public func send(_ request: OutboundRequest, next: SendNext) async throws -> Reply {
        try await time("out", request.route) { try await next(request) }
    }

    private func time(_ direction: String, _ route: String, _ body: () async throws -> Reply) async throws -> Reply {
        let start = ContinuousClock.now
        do {
            let reply = try await body()
            record(direction, route, "ok", since: start)
            return reply
        } catch {
            record(direction, route, (error as? PaddingtonError)?.code.description ?? "error", since: start)
            throw error
        }
    }

    private func record(_ direction: String, _ route: String, _ outcome: String, since start: ContinuousClock.Instant) {
        Timer(label: Self.label, dimensions: [("service", service), ("direction", direction), ("route", route), ("outcome", outcome)], factory: factory)
            .recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}
