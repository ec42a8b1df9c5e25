import PaddingtonCrypto
/// A server this service dials out to (an imported invitation).
public struct ServerEntry: Sendable, Equatable, CustomStringConvertible {
    /// The server's service name.
    public var name: String
    /// The normalised URL to dial.
    public var url: WebSocketURL
    /// The zone of this link.
    public var zone: String
    /// The pre-shared keys from the invitation.
    public var keys: EnvelopeKeys

    public init(name: String, url: WebSocketURL, zone: String, keys: EnvelopeKeys) {
        self.name = name
        self.url = url
        self.zone = zone
        self.keys = keys
    }

    public var description: String { "ServerEntry(\(name)@\(zone), url: \(url), keys: <redacted>)" }
}

/// A client allowed to dial in.
public struct ClientEntry: Sendable, Equatable, CustomStringConvertible {
    /// The client's service name.
    public var name: String
    /// The addresses it may connect from.
    public var allowance: IPAllowance
    /// The zone of this link.
    public var zone: String
    /// The pre-shared keys given to it in its invitation.
    public var keys: EnvelopeKeys

    public init(name: String, allowance: IPAllowance, zone: String, keys: EnvelopeKeys) {
        self.name = name
        self.allowance = allowance
        self.zone = zone
        self.keys = keys
    }

    public var description: String { "ClientEntry(\(name)@\(zone), ip: \(allowance), keys: <redacted>)" }
}

/// How configuration secrets are encrypted (the Rust crate's `EncryptionScheme`). It never covers
/// the keys in this file; see docs/security.md.
public enum EncryptionScheme: Sendable, Equatable {
    /// Key from `Key::from_password(getenv(variable))`.
    case environment(variable: String)
    /// Key from `Key::from_password(service name)`: trivially derivable.
    case simple
}

/// A service's identity, listen address and peers: the Rust crate's `ServiceConfig`, in its TOML layout.
///
/// ```toml
/// name = "echo-server"
/// url = "ws://localhost:6501/"
/// ip = "127.0.0.1"
/// port = 6501
/// servers = []
///
/// [[clients]]
/// name = "echo-client"
/// zone = "default"
/// [clients.ip]
/// IP = "127.0.0.1"
/// [clients.inner_key]
/// data = "…"
/// [clients.outer_key]
/// data = "…"
/// ```
/// Keys are stored in plain text; the file is written with mode 0600.
public struct ServiceConfiguration: Sendable, Equatable {
    /// This service's name.
    public var name: String
    /// The public URL clients are told to dial (normalised).
    public var url: WebSocketURL
    /// The address the listener binds.
    public var ip: IPAddress
    /// The port the listener binds (0 picks a free port).
    public var port: Int
    /// The Rust crate's health-check port (`heathcheck_port` in the file, typo included). Kept for
    /// round trips; no health server is run yet.
    public var healthcheckPort: Int?
    /// The Rust crate's `proxy_header`. Kept for round trips; not honoured (see docs/security.md).
    public var proxyHeader: String?
    /// Servers this service dials.
    public var servers: [ServerEntry]
    /// Clients that may dial in.
    public var clients: [ClientEntry]
    /// How configuration secrets are encrypted, if at all.
    public var encryption: EncryptionScheme?

    /// A configuration with no peers.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidConfiguration`` naming the bad value.
    public init(name: String, url: String = "http://localhost:8042", ip: String = "127.0.0.1", port: Int = 8042) throws {
        let name = name.trimmingCharacters(in: .whitespaces)
        if let problem = Names.problem(withName: name) {
            throw PaddingtonError(.invalidConfiguration, "service name \(problem)")
        }
        guard let address = IPAddress(ip) else {
            throw PaddingtonError(.invalidConfiguration, "'\(ip)' is not an IP address to listen on")
        }
        guard (0...65535).contains(port) else {
            throw PaddingtonError(.invalidConfiguration, "port \(port) is outside 0...65535")
        }
        do {
            self.url = try WebSocketURL(parsing: url)
        } catch let error as PaddingtonError {
            throw PaddingtonError(.invalidConfiguration, error.message)
        }
        self.name = name
        self.ip = address
        self.port = port
        self.servers = []
        self.clients = []
    }

    // MARK: Peers

    /// Admits a client and returns its invitation. Keys are fresh unless given (to re-admit a client
    /// whose invitation already exists).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidArgument`` for a bad name or zone, or a
    ///   client that already exists in that zone.
    @discardableResult
    public mutating func addClient(
        _ name: String, allowing allowance: IPAllowance, zone: String? = nil, keys: EnvelopeKeys = .generate()
    ) throws -> Invitation {
        let zone = zone ?? Names.defaultZone
        try Self.checkPeer(name: name, zone: zone)
        guard !clients.contains(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "client \(name)@\(zone) already exists")
        }
        guard !keys.inner.isNull, !keys.outer.isNull else {
            throw PaddingtonError(.invalidArgument, "a client's keys must not be all zero")
        }
        clients.append(ClientEntry(name: name, allowance: allowance, zone: zone, keys: keys))
        return try invitation(zone: zone, keys: keys)
    }

    /// Removes a client.
    public mutating func removeClient(_ name: String, zone: String? = nil) throws {
        let zone = zone ?? Names.defaultZone
        guard let index = clients.firstIndex(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "no client \(name)@\(zone)")
        }
        clients.remove(at: index)
    }

    /// Gives a client new keys and returns its new invitation. The old keys stop working at once.
    public mutating func rotateClientKeys(_ name: String, zone: String? = nil) throws -> Invitation {
        let zone = zone ?? Names.defaultZone
        guard let index = clients.firstIndex(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "no client \(name)@\(zone)")
        }
        let keys = EnvelopeKeys.generate()
        clients[index].keys = keys
        return try invitation(zone: zone, keys: keys)
    }

    /// Imports an invitation: this service will dial its server.
    public mutating func addServer(_ invitation: Invitation) throws {
        guard !servers.contains(where: { $0.name == invitation.name && $0.zone == invitation.zone }) else {
            throw PaddingtonError(.invalidArgument, "server \(invitation.name)@\(invitation.zone) already exists")
        }
        let url: WebSocketURL
        do {
            url = try WebSocketURL(parsing: invitation.url)
        } catch let error as PaddingtonError {
            throw PaddingtonError(.invalidInvitation, error.message)
        }
        servers.append(ServerEntry(name: invitation.name, url: url, zone: invitation.zone, keys: invitation.keys))
    }

    /// Removes a server.
    public mutating func removeServer(_ name: String, zone: String? = nil) throws {
        let zone = zone ?? Names.defaultZone
        guard let index = servers.firstIndex(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "no server \(name)@\(zone)")
        }
        servers.remove(at: index)
    }

    /// Applies a rotated invitation from a server already configured.
    public mutating func rotateServerKeys(_ invitation: Invitation) throws {
        guard let index = servers.firstIndex(where: { $0.name == invitation.name && $0.zone == invitation.zone }) else {
            throw PaddingtonError(.invalidArgument, "no server \(invitation.name)@\(invitation.zone) to rotate")
        }
        servers[index].keys = invitation.keys
    }

    private func invitation(zone: String, keys: EnvelopeKeys) throws -> Invitation {
        try Invitation(name: name, url: url.description, zone: zone, keys: keys)
    }

    private static func checkPeer(name: String, zone: String) throws {
        if let problem = Names.problem(withName: name) {
            throw PaddingtonError(.invalidArgument, "peer name \(problem)")
        }
        if let problem = Names.problem(withZone: zone) {
            throw PaddingtonError(.invalidArgument, "zone \(problem)")
        }
    }

    // MARK: Files

    /// Parses configuration text. Unknown keys are ignored, as in the Rust crate.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidConfiguration`` naming the source and field.
    public static func parse(_ text: String, source: String = "<string>") throws -> ServiceConfiguration {
        let reader = TOMLReader(source: source, code: .invalidConfiguration)
        let root = try reader.parse(text)
        let name = try reader.name(root, "name", path: "name")
        let url = try reader.url(root, "url", path: "url")
        let ipText = try reader.string(root, "ip", path: "ip")
        guard let ip = IPAddress(ipText) else { throw reader.fail("ip", "is not an IP address: '\(ipText)'") }
        let port = try reader.integer(root, "port", path: "port", range: 0...65535)
        var config = try ServiceConfiguration(name: name, url: url.description, ip: ip.description, port: port)
        config.ip = ip
        config.healthcheckPort = try reader.optionalInteger(root, "heathcheck_port", path: "heathcheck_port", range: 0...65535)
        config.proxyHeader = try reader.optionalString(root, "proxy_header", path: "proxy_header")

        for (index, entry) in try reader.tables(root, "servers", path: "servers").enumerated() {
            let path = "servers[\(index)]"
            let server = ServerEntry(
                name: try reader.name(entry, "name", path: "\(path).name"),
                url: try reader.url(entry, "url", path: "\(path).url"),
                zone: try reader.zone(entry, "zone", path: "\(path).zone", default: Names.defaultZone),
                keys: EnvelopeKeys(
                    inner: try reader.key(entry, "inner_key", path: "\(path).inner_key"),
                    outer: try reader.key(entry, "outer_key", path: "\(path).outer_key")))
            guard !config.servers.contains(where: { $0.name == server.name && $0.zone == server.zone }) else {
                throw reader.fail(path, "repeats server \(server.name)@\(server.zone)")
            }
            config.servers.append(server)
        }
        for (index, entry) in try reader.tables(root, "clients", path: "clients").enumerated() {
            let path = "clients[\(index)]"
            let client = ClientEntry(
                name: try reader.name(entry, "name", path: "\(path).name"),
                allowance: try allowance(entry, reader: reader, path: "\(path).ip"),
                zone: try reader.zone(entry, "zone", path: "\(path).zone", default: Names.defaultZone),
                keys: EnvelopeKeys(
                    inner: try reader.key(entry, "inner_key", path: "\(path).inner_key"),
                    outer: try reader.key(entry, "outer_key", path: "\(path).outer_key")))
            guard !config.clients.contains(where: { $0.name == client.name && $0.zone == client.zone }) else {
                throw reader.fail(path, "repeats client \(client.name)@\(client.zone)")
            }
            config.clients.append(client)
        }
        if root["encryption"] != nil {
            let table = try reader.table(root, "encryption", path: "encryption")
            if table["Environment"] != nil {
                let environment = try reader.table(table, "Environment", path: "encryption.Environment")
                config.encryption = .environment(variable: try reader.string(environment, "key", path: "encryption.Environment.key"))
            } else if table["Simple"] != nil {
                config.encryption = .simple
            } else {
                throw reader.fail("encryption", "must be [encryption.Environment] with a key, or [encryption.Simple]")
            }
        }
        return config
    }

    private static func allowance(_ entry: TOML.Table, reader: TOMLReader, path: String) throws -> IPAllowance {
        let value = try reader.value(entry, "ip", path: path)
        if case .string = value {
            throw reader.fail(path, "must be a table with IP = \"…\" or Range = \"…\", not a bare string (an old layout)")
        }
        let table = try reader.table(entry, "ip", path: path)
        let text: String
        if table["IP"] != nil {
            text = try reader.string(table, "IP", path: "\(path).IP")
            guard IPAddress(text) != nil else { throw reader.fail("\(path).IP", "is not an IP address: '\(text)'") }
        } else if table["Range"] != nil {
            text = try reader.string(table, "Range", path: "\(path).Range")
        } else {
            throw reader.fail(path, "must have IP = \"…\" or Range = \"…\"")
        }
        do {
            return try IPAllowance(parsing: text)
        } catch let error as PaddingtonError {
            throw reader.fail(path, error.message)
        }
    }

    /// Loads and validates a configuration file.
    public static func load(from path: String) throws -> ServiceConfiguration {
        try parse(try FileIO.read(path, code: .invalidConfiguration), source: path)
    }

    /// The TOML text, in the Rust crate's field order and layout.
    public func rendered() -> String {
        var root = TOML.Table()
        root["name"] = .string(name)
        root["url"] = .string(url.description)
        root["ip"] = .string(ip.description)
        root["port"] = .integer(port)
        if let healthcheckPort { root["heathcheck_port"] = .integer(healthcheckPort) }
        if let proxyHeader { root["proxy_header"] = .string(proxyHeader) }
        root["servers"] = .array(servers.map { server in
            var table = TOML.Table()
            table["name"] = .string(server.name)
            table["url"] = .string(server.url.description)
            table["zone"] = .string(server.zone)
            table["inner_key"] = .key(server.keys.inner)
            table["outer_key"] = .key(server.keys.outer)
            return .table(table)
        })
        root["clients"] = .array(clients.map { client in
            var table = TOML.Table()
            table["name"] = .string(client.name)
            switch client.allowance {
            case .address(let address): table["ip"] = .single("IP", .string(address.description))
            case .range: table["ip"] = .single("Range", .string(client.allowance.description))
            }
            table["zone"] = .string(client.zone)
            table["inner_key"] = .key(client.keys.inner)
            table["outer_key"] = .key(client.keys.outer)
            return .table(table)
        })
        switch encryption {
        case .environment(let variable): root["encryption"] = .single("Environment", .single("key", .string(variable)))
        case .simple: root["encryption"] = .single("Simple", .table(TOML.Table()))
        case nil: break
        }
        return TOML.render(root)
    }

    /// Writes the configuration with mode 0600, atomically, creating the folder.
    public func save(to path: String) throws {
        try FileIO.writePrivate(rendered(), to: path)
    }
}
