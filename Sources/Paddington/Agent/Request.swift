/// A request a peer sent: its route, headers and body. The handler's ``RequestContext`` says who sent it
/// and by when it must be answered.
public struct Request: Sendable, Equatable {
    /// The route the peer called; empty for the default route.
    public var route: String
    /// The peer's headers (`traceparent` and whatever its middleware added).
    public var headers: [String: String]
    /// The body.
    public var bytes: [UInt8]

    /// A request with the given parts.
    public init(route: String, headers: [String: String] = [:], bytes: [UInt8]) {
        self.route = route
        self.headers = headers
        self.bytes = bytes
    }

    /// The body as text; bytes that are not UTF-8 are decoded with replacement characters.
    public var payload: String { String(decoding: bytes, as: UTF8.self) }
}
