import CoreMetrics
import NIOConcurrencyHelpers

/// Middleware that times every request with swift-metrics: the timer `paddington_request_duration`
/// (nanoseconds) with the dimensions `service`, `direction` (`in` for requests this service answers,
/// `out` for those it sends), `route` and `outcome` (`ok` or the error code). A no-op until the
/// application bootstraps a metrics backend.
///
/// A request whose outcome is `unknownRoute` is labelled with the route `unknown`, not the route it
/// named: the peer chooses that name, and a label per name would let it grow the metrics without bound.
public struct RequestMetrics: RequestMiddleware {
    /// The timer's label.
    public static let label = "paddington_request_duration"
    /// The `route` label of requests answered `unknownRoute`.
    public static let unknownRoute = "unknown"
    private let service: String
    private let factory: any MetricsFactory
    private let timers = TimerCache()

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
            let code = (error as? PaddingtonError)?.code
            record(direction, code == .unknownRoute ? Self.unknownRoute : route, code?.description ?? "error", since: start)
            throw error
        }
    }

    private func record(_ direction: String, _ route: String, _ outcome: String, since start: ContinuousClock.Instant) {
        let key = TimerCache.Key(direction: direction, route: route, outcome: outcome)
        let timer = timers.timer(for: key) {
            Timer(label: Self.label, dimensions: [("service", service), ("direction", direction), ("route", route), ("outcome", outcome)], factory: factory)
        }
        timer.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}

/// The timers of one ``RequestMetrics``, made once per direction, route and outcome. At most
/// ``limit`` are kept; past that a timer is made for each request (the backend still has it).
private final class TimerCache: Sendable {
    struct Key: Hashable {
        var direction: String
        var route: String
        var outcome: String
    }

    static let limit = 1024
    private let timers = NIOLockedValueBox([Key: Timer]())

    func timer(for key: Key, make: () -> Timer) -> Timer {
        if let timer = timers.withLockedValue({ $0[key] }) { return timer }
        let timer = make()
        return timers.withLockedValue { timers in
            if let existing = timers[key] { return existing }
            if timers.count < Self.limit { timers[key] = timer }
            return timer
        }
    }
}
