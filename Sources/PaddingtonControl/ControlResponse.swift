/// The answer to one ``ControlRequest``: a line of JSON, `{"ok":true,"result":{…}}` or
/// `{"ok":false,"error":{"code":"…","message":"…"}}`.
public struct ControlResponse: Codable, Sendable, Equatable {
    /// What went wrong: a `PaddingtonError.Code` name and its message.
    public struct Failure: Codable, Sendable, Equatable {
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// A link in a status.
    public struct Link: Codable, Sendable, Equatable {
        public var peer: String
        public var zone: String
        public var `protocol`: Int
        /// `out` when the agent dialled the peer, `in` when the peer dialled it.
        public var direction: String
        public var ageSeconds: Double
        public var messagesIn: Int
        public var messagesOut: Int

        public init(peer: String, zone: String, protocol: Int, direction: String, ageSeconds: Double, messagesIn: Int, messagesOut: Int) {
            self.peer = peer
            self.zone = zone
            self.protocol = `protocol`
            self.direction = direction
            self.ageSeconds = ageSeconds
            self.messagesIn = messagesIn
            self.messagesOut = messagesOut
        }
    }

    /// What a command returns; each command fills its own fields.
    public struct Result: Codable, Sendable, Equatable {
        /// `status`: the service, where it listens (nil for a client-only service), its uptime, its links.
        public var service: String?
        public var listen: String?
        public var uptimeSeconds: Double?
        public var links: [Link]?
        /// `ping`: the round trip in milliseconds.
        public var rttMilliseconds: Double?
        /// `call` and `info`: the reply body (UTF-8, bytes that are not decoded as replacement characters).
        public var body: String?
        /// `reload`: what changed, e.g. `clients +a@default; servers -b@default` (`no change`).
        public var changes: String?

        public init(service: String? = nil, listen: String? = nil, uptimeSeconds: Double? = nil, links: [Link]? = nil,
                    rttMilliseconds: Double? = nil, body: String? = nil, changes: String? = nil) {
            self.changes = changes
            self.service = service
            self.listen = listen
            self.uptimeSeconds = uptimeSeconds
            self.links = links
            self.rttMilliseconds = rttMilliseconds
            self.body = body
        }
    }

    public var ok: Bool
    public var result: Result?
    public var error: Failure?

    public init(ok: Bool, result: Result?, error: Failure?) {
        self.ok = ok
        self.result = result
        self.error = error
    }

    /// A success.
    public static func success(_ result: Result) -> ControlResponse { ControlResponse(ok: true, result: result, error: nil) }

    /// A failure.
    public static func failure(_ code: String, _ message: String) -> ControlResponse {
        ControlResponse(ok: false, result: nil, error: Failure(code: code, message: message))
    }
}
