import NIOConcurrencyHelpers

/// The request handlers of one mesh, by route.
final class RouteTable: Sendable {
    private let handlers = NIOLockedValueBox([String: RequestHandler]())

    func register(_ route: String, _ handler: @escaping RequestHandler) {
        handlers.withLockedValue { $0[route] = handler }
    }

    @discardableResult
    func remove(_ route: String) -> Bool {
        handlers.withLockedValue { $0.removeValue(forKey: route) != nil }
    }

    func handler(for route: String) -> RequestHandler? {
        handlers.withLockedValue { $0[route] }
    }
}
