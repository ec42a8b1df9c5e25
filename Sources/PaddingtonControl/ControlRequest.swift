/// One command to a running agent: a line of JSON on its control socket.
///
/// `{"command":"status"}`, `{"command":"info"}`,
/// `{"command":"ping","peer":"portal","zone":"default","timeout":5}`,
/// `{"command":"call","peer":"portal","route":"math.add","body":"{\"a\":1,\"b\":2}","timeout":5}`,
/// `{"command":"send","peer":"portal","payload":"hello"}`, `{"command":"reload","now":true}`.
public struct ControlRequest: Codable, Sendable, Equatable {
    /// `status`, `info`, `ping`, `call`, `send` or `reload`.
    public var command: String
    /// The peer of `ping`, `call` and `send`.
    public var peer: String?
    /// The peer's zone; `default` when absent.
    public var zone: String?
    /// The route of `call`.
    public var route: String?
    /// The request body of `call` (text, usually JSON).
    public var body: String?
    /// The payload of `send`.
    public var payload: String?
    /// Seconds to wait for `ping` and `call`; 5 when absent.
    public var timeout: Double?
    /// `reload`: also re-dial changed servers at once (rather than at their next reconnection).
    public var now: Bool?

    /// A command.
    public init(command: String, peer: String? = nil, zone: String? = nil, route: String? = nil, body: String? = nil,
                payload: String? = nil, timeout: Double? = nil, now: Bool? = nil) {
        self.command = command
        self.peer = peer
        self.zone = zone
        self.route = route
        self.body = body
        self.payload = payload
        self.timeout = timeout
        self.now = now
    }

    /// The commands an agent answers.
    public static let commands = ["status", "info", "ping", "call", "send", "reload"]
}
