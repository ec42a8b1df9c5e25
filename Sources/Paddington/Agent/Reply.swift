/// What a request handler answers, and what ``Mesh/request(_:to:zone:route:headers:timeout:)`` returns.
public struct Reply: Sendable, Equatable {
    /// The body.
    public var bytes: [UInt8]
    /// Headers for the caller.
    public var headers: [String: String]

    /// A text reply.
    public init(_ text: String, headers: [String: String] = [:]) {
        self.init(bytes: Array(text.utf8), headers: headers)
    }

    /// A reply of bytes.
    public init(bytes: [UInt8], headers: [String: String] = [:]) {
        self.bytes = bytes
        self.headers = headers
    }

    /// The body as text; bytes that are not UTF-8 are decoded with replacement characters.
    public var payload: String { String(decoding: bytes, as: UTF8.self) }
}
