import NIOCore
import NIOHTTP1
import Prometheus

/// Decides the response to one request head: pure, no I/O.
struct HealthResponder: Sendable {
    /// A response: status, headers and body (empty for `HEAD`).
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: [UInt8]
        /// Whether the connection is closed after it.
        var close: Bool
    }

    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    let registry: PrometheusCollectorRegistry
    let workers: @Sendable () -> Int

    /// The answer to `head`: `/health` and `/metrics` for `GET` and `HEAD`, else `405` on those paths
    /// and `404` elsewhere.
    func respond(to head: HTTPRequestHead, date: String) -> Response {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? head.uri
        var response: Response
        switch path {
        case "/health", "/metrics":
            guard head.method == .GET || head.method == .HEAD else {
                response = Response(status: .methodNotAllowed, headers: ["allow": "GET,HEAD"], body: [], close: false)
                break
            }
            if path == "/health" {
                response = Response(
                    status: .ok, headers: ["content-type": "application/json"], body: Self.healthBody(workers: workers()), close: false)
            } else {
                var body: [UInt8] = []
                registry.emit(into: &body)
                response = Response(status: .ok, headers: ["content-type": Self.metricsContentType], body: body, close: false)
            }
        default:
            response = Response(status: .notFound, headers: [:], body: [], close: false)
        }
        response.headers.add(name: "content-length", value: "\(response.body.count)")
        response.headers.add(name: "date", value: date)
        if head.method == .HEAD { response.body = [] }
        if !head.isKeepAlive {
            response.close = true
            response.headers.add(name: "connection", value: "close")
        }
        return response
    }

    /// The Rust crate's body, keys in serde_json's (sorted) order: `{"status":"ok","workers":N}`.
    static func healthBody(workers: Int) -> [UInt8] {
        Array(#"{"status":"ok","workers":\#(workers)}"#.utf8)
    }
}
