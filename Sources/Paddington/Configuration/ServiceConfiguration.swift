import Foundation
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
    /// The wire protocols this link may use; nil follows ``ServiceConfiguration/protocolPolicy``.
    /// (`protocol = "auto" | "2" | "1"` in the entry; the Rust crate ignores the key.)
    public var protocolPolicy: ProtocolPolicy?
    /// For a `wss://` server: a PEM file of the CAs its certificate must chain to (`tls_ca = "/path/ca.pem"`
    /// in the entry; a key of ours, which the Rust crate ignores). Nil follows
    /// ``ServiceConfiguration/tlsCA``, and when that is nil too, the system's roots are trusted.
    public var tlsCA: String?

    /// A server entry from its parts; ``ServiceConfiguration/addServer(_:)`` makes one from an invitation.
    public init(
        name: String, url: WebSocketURL, zone: String, keys: EnvelopeKeys, protocolPolicy: ProtocolPolicy? = nil, tlsCA: String? = nil
    ) {
        self.name = name
        self.url = url
        self.zone = zone
        self.keys = keys
        self.protocolPolicy = protocolPolicy
        self.tlsCA = tlsCA
    }

    /// The name, zone and URL; the keys print as `<redacted>`.
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
    /// The wire protocols this client may use; nil follows ``ServiceConfiguration/protocolPolicy``.
    /// `require` refuses it on protocol 1 once its keys identify it; `off` refuses it on protocol 2 (set
    /// the client's side to `1` as well, or it will keep offering protocol 2).
    public var protocolPolicy: ProtocolPolicy?
    /// The keys this client had before its last rotation (`paddington rotate`), still accepted until
    /// ``previousKeysUntil`` or until the client first connects with ``keys``, whichever is first
    /// (`previous_inner_key`, `previous_outer_key`, `previous_keys_until` in the file; ours).
    public var previousKeys: EnvelopeKeys?
    /// When ``previousKeys`` stop being accepted.
    public var previousKeysUntil: Date?
    /// When this client's invitation expires if it has not been used: its keys are refused after this
    /// unless the client has connected with them before (`expires = "…"` in the file; ours). A first
    /// connection clears it.
    public var expires: Date?
    /// Whether the invitation is single-use: at the first connection of a peer of ours, the keys are
    /// replaced over the new link, so that the invitation file is useless afterwards
    /// (`single_use = true` in the file; ours). A Rust peer cannot take new keys: only ``expires`` applies.
    public var singleUse = false

    /// A client entry from its parts; ``ServiceConfiguration/addClient(_:allowing:zone:keys:)`` and
    /// ``ServiceConfiguration/admitClient(_:allowing:zone:keys:)`` make one with fresh keys.
    public init(name: String, allowance: IPAllowance, zone: String, keys: EnvelopeKeys, protocolPolicy: ProtocolPolicy? = nil) {
        self.name = name
        self.allowance = allowance
        self.zone = zone
        self.keys = keys
        self.protocolPolicy = protocolPolicy
    }

    /// The name, zone and allowed addresses; the keys print as `<redacted>`.
    public var description: String { "ClientEntry(\(name)@\(zone), ip: \(allowance), keys: <redacted>)" }
}

/// How configuration secrets are encrypted (the Rust crate's `EncryptionScheme`). It never covers
/// the keys in this file; see docs/security.md.
///
/// The Rust crate may add schemes, so this enum is not frozen: a `switch` over it outside this package
/// needs an `@unknown default`.
#if hasAttribute(nonexhaustive)
@nonexhaustive
#endif
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
///
/// **Listening.** A ``Mesh`` listens on ``ip`` and ``port`` when, and only when, the service has
/// clients. ``url`` is what invitations tell clients to dial; unless given, it is derived from the
/// listen address, `ws://<ip>:<port>/`.
///
/// **A client-only service** (``isClientOnly``) has no clients and no listen port (port 0):
/// `ServiceConfiguration(name:)` makes one. The Rust crate requires `url`, `ip` and `port` in the file,
/// so they are still written, as `ip = "127.0.0.1"`, `port = 0` and `url = "ws://127.0.0.1:0/"`; a file
/// with no clients and `port = 0` reads back as client-only. To let it accept clients later, give it a
/// port with ``setListenAddress(ip:port:url:)`` (`paddington listen --port N`).
///
/// **Port 0 with clients** listens on a free port chosen when the mesh starts. Invitations need the
/// real port: admit clients with ``admitClient(_:allowing:zone:keys:)`` and make their invitations with
/// ``Mesh/invitation(for:zone:)`` once the mesh listens (``addClient(_:allowing:zone:keys:)`` refuses a
/// URL with port 0).
public struct ServiceConfiguration: Sendable, Equatable {
    /// This service's name.
    public var name: String
    /// The public URL clients are told to dial (normalised). A port of 0 in it means "the port the
    /// listener binds": only ``Mesh/invitation(for:zone:)`` can fill it in.
    public var url: WebSocketURL
    /// The address the listener binds.
    public var ip: IPAddress
    /// The port the listener binds (0 picks a free port when the mesh starts).
    public var port: Int
    /// The Rust crate's health-check port (`heathcheck_port` in the file, typo included): where
    /// `PaddingtonHealth`'s `HealthServer` serves `GET /health` and `GET /metrics`, on ``ip`` (as the Rust
    /// crate binds it). `paddington run` starts it when this is set; 0 picks a free port.
    public var healthcheckPort: Int?
    /// The Rust crate's `proxy_header`: the name of an HTTP header of the upgrade request whose value, a
    /// bare IP address, replaces the connection's address for the IP check. Honoured only on connections
    /// from ``trustedProxies``; the header from anyone else is ignored and counted
    /// (``MeshStatistics/proxyHeadersIgnored``).
    public var proxyHeader: String?
    /// The addresses (or ranges) of the reverse proxies whose ``proxyHeader`` is believed
    /// (`trusted_proxies = ["10.0.0.5", "10.1.0.0/16"]`; a key of ours, which the Rust crate ignores).
    /// Empty (the default): the header is believed from no one. A trusted proxy is exempt from
    /// ``MeshConfiguration/maxConnectionsPerAddress``, since all its clients share its address.
    public var trustedProxies: [IPAllowance] = []
    /// The listener's TLS certificate chain: a PEM file, the leaf first, then its intermediates
    /// (`tls_certificate = "/path/chain.pem"`; a key of ours, which the Rust crate ignores). With
    /// ``tlsKey``, the listener serves TLS 1.2 and 1.3 only (`wss://`); give the service a `wss://`
    /// ``url`` so that invitations say so. A relative path in a file is taken from the file's folder
    /// when it is loaded, and saved as the absolute path.
    public var tlsCertificate: String?
    /// The private key of ``tlsCertificate``: a PEM file (`tls_key = "/path/key.pem"`), which should be
    /// readable by the service's user only (mode 0600).
    public var tlsKey: String?
    /// A PEM file of the CAs that `wss://` servers' certificates must chain to, for every server entry
    /// without a ``ServerEntry/tlsCA`` of its own (`tls_ca = "/path/ca.pem"`). Nil: the system's roots.
    public var tlsCA: String?
    /// Servers this service dials.
    public var servers: [ServerEntry]
    /// Clients that may dial in.
    public var clients: [ClientEntry]
    /// How configuration secrets are encrypted, if at all.
    public var encryption: EncryptionScheme?
    /// The wire protocols of this service's links, unless a client or server entry says otherwise
    /// (`protocol = "auto" | "2" | "1"` at the top of the file, omitted when `auto`; the Rust crate
    /// ignores the key).
    public var protocolPolicy: ProtocolPolicy = .auto

    /// A configuration with no peers.
    ///
    /// `ServiceConfiguration(name: "agent")` is a client-only service; `ServiceConfiguration(name:
    /// "portal", port: 6501)` listens on 127.0.0.1:6501 and invites clients to `ws://127.0.0.1:6501/`.
    ///
    /// - Parameters:
    ///   - name: letters, digits, `_` and `-`.
    ///   - url: the URL clients are told to dial (`http`/`https` become `ws`/`wss`). Nil derives it
    ///     from the listen address: `ws://<ip>:<port>/`.
    ///   - ip: the address to listen on.
    ///   - port: the port to listen on. Nil is the URL's port when a URL is given, else 0 (none yet).
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming the bad value.
    public init(name: String, url: String? = nil, ip: String = "127.0.0.1", port: Int? = nil) throws {
        let name = name.trimmingCharacters(in: .whitespaces)
        if let problem = Names.problem(withName: name) {
            throw PaddingtonError(.invalidConfiguration, "service name \(problem)")
        }
        self.name = name
        (self.ip, self.port, self.url) = try Self.listenSettings(ip: ip, port: port, url: url)
        self.servers = []
        self.clients = []
    }

    /// True when the service has no clients and no listen port (port 0): it only dials servers, and
    /// cannot invite clients until it is given a port (``setListenAddress(ip:port:url:)``).
    public var isClientOnly: Bool { clients.isEmpty && port == 0 }

    /// Sets where the service listens and the URL its invitations give, with the same rules as
    /// ``init(name:url:ip:port:)``. Invitations already written keep the URL they were made with.
    ///
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming the bad value; the
    ///   configuration is then unchanged.
    public mutating func setListenAddress(ip: String = "127.0.0.1", port: Int? = nil, url: String? = nil) throws {
        (self.ip, self.port, self.url) = try Self.listenSettings(ip: ip, port: port, url: url)
    }

    /// The URL derived from a listen address: `ws://<ip>:<port>/` (IPv6 in brackets).
    static func derivedURL(ip: IPAddress, port: Int) throws -> WebSocketURL {
        let host: String
        if case .v6 = ip { host = "[\(ip)]" } else { host = ip.description }
        return try WebSocketURL(parsing: "ws://\(host):\(port)/")
    }

    private static func listenSettings(ip: String, port: Int?, url: String?) throws -> (IPAddress, Int, WebSocketURL) {
        guard let address = IPAddress(ip) else {
            throw PaddingtonError(.invalidConfiguration, "'\(ip)' is not an IP address to listen on")
        }
        var parsed: WebSocketURL?
        if let url {
            do {
                parsed = try WebSocketURL(parsing: url)
            } catch let error as PaddingtonError {
                throw PaddingtonError(.invalidConfiguration, error.message)
            }
        }
        let port = port ?? parsed?.port ?? 0
        guard (0...65535).contains(port) else {
            throw PaddingtonError(.invalidConfiguration, "port \(port) is outside 0...65535")
        }
        return (address, port, try parsed ?? derivedURL(ip: address, port: port))
    }

    // MARK: Peers

    /// Admits a client and returns its invitation. Keys are fresh unless given (to re-admit a client
    /// whose invitation already exists).
    ///
    /// The invitation carries ``url``; when that URL cannot be dialled (port 0, or the any-address
    /// `0.0.0.0` or `::` as host), nothing changes and the call throws. For a service on port 0, use
    /// ``admitClient(_:allowing:zone:keys:)`` and ``Mesh/invitation(for:zone:)``.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` for a bad name or zone, a
    ///   client that already exists in that zone, or a URL no client can dial. The configuration is
    ///   then unchanged.
    @discardableResult
    public mutating func addClient(
        _ name: String, allowing allowance: IPAllowance, zone: String? = nil, keys: EnvelopeKeys = .generate()
    ) throws -> Invitation {
        let zone = zone ?? Names.defaultZone
        try checkNewClient(name, zone: zone, keys: keys)
        let invitation = try makeInvitation(zone: zone, keys: keys, url: url)
        clients.append(ClientEntry(name: name, allowance: allowance, zone: zone, keys: keys))
        return invitation
    }

    /// Admits a client without making its invitation, for a service whose port is known only once it
    /// listens (port 0). Make the invitation later with ``Mesh/invitation(for:zone:)`` (or
    /// ``invitation(for:zone:)`` when the URL has its port). Keys are fresh unless given.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` for a bad name or zone, or a
    ///   client that already exists in that zone.
    public mutating func admitClient(
        _ name: String, allowing allowance: IPAllowance, zone: String? = nil, keys: EnvelopeKeys = .generate()
    ) throws {
        let zone = zone ?? Names.defaultZone
        try checkNewClient(name, zone: zone, keys: keys)
        clients.append(ClientEntry(name: name, allowance: allowance, zone: zone, keys: keys))
    }

    /// The invitation of an admitted client, with its current keys and ``url``.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when there is no such client,
    ///   or when ``url`` cannot be dialled (port 0: use ``Mesh/invitation(for:zone:)``).
    public func invitation(for client: String, zone: String? = nil) throws -> Invitation {
        let entry = try self.client(client, zone: zone)
        return try makeInvitation(zone: entry.zone, keys: entry.keys, url: url)
    }

    /// The invitation of an admitted client when the listener is bound to `boundPort`: a URL with
    /// port 0 gets that port.
    func invitation(for client: String, zone: String?, boundPort: Int) throws -> Invitation {
        let entry = try self.client(client, zone: zone)
        var url = self.url
        if url.port == 0 { url.port = boundPort }
        return try makeInvitation(zone: entry.zone, keys: entry.keys, url: url)
    }

    /// The entry of an admitted client.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when there is none.
    func client(_ name: String, zone: String?) throws -> ClientEntry {
        let zone = zone ?? Names.defaultZone
        guard let entry = clients.first(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "\(self.name) has no client \(name)@\(zone)")
        }
        return entry
    }

    /// Removes a client.
    public mutating func removeClient(_ name: String, zone: String? = nil) throws {
        let zone = zone ?? Names.defaultZone
        guard let index = clients.firstIndex(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "no client \(name)@\(zone)")
        }
        clients.remove(at: index)
    }

    /// Gives a client new keys and returns its new invitation.
    ///
    /// Without `overlap` the old keys stop working at once (once the configuration is in force: a
    /// restart or ``Mesh/reload(_:reconnectNow:)``). With it they become ``ClientEntry/previousKeys``,
    /// accepted until `now + overlap` or until the client first connects with the new keys, whichever
    /// comes first; a live link is not cut. Keys from an earlier rotation still in their overlap are
    /// dropped. The keys of an unused invitation are kept no later than its expiry (not at all once it
    /// expired), and a single-use invitation's are never kept. The new keys do not expire and are not
    /// single-use.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when there is no such client
    ///   or ``url`` cannot be dialled; the configuration is then unchanged.
    public mutating func rotateClientKeys(_ name: String, zone: String? = nil, keepingPreviousFor overlap: Duration? = nil, now: Date = Date()) throws -> Invitation {
        let zone = zone ?? Names.defaultZone
        guard let index = clients.firstIndex(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "no client \(name)@\(zone)")
        }
        let keys = EnvelopeKeys.generate()
        let invitation = try makeInvitation(zone: zone, keys: keys, url: url)
        let client = clients[index]
        // The old keys are kept only if they were a working pair: not a single-use invitation's (unused
        // or being replaced), not an invitation that expired unused, and never beyond its expiry.
        let end = overlap.map { now.addingTimeInterval(Double($0.components.seconds)) }.map { end in client.expires.map { min($0, end) } ?? end }
        if let end, end > now, !client.singleUse {
            clients[index].previousKeys = client.keys
            clients[index].previousKeysUntil = end
        } else {
            clients[index].previousKeys = nil
            clients[index].previousKeysUntil = nil
        }
        clients[index].keys = keys
        clients[index].expires = nil
        clients[index].singleUse = false
        return invitation
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

    /// Applies a new invitation from a server already configured (a rotation): its keys and URL replace
    /// the entry's; what the operator set on the entry (`protocol`, `tls_ca`) stays.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when there is no such server, or
    ///   `PaddingtonError.Code.invalidInvitation` when its URL cannot be dialled; the configuration is
    ///   then unchanged.
    public mutating func rotateServerKeys(_ invitation: Invitation) throws {
        guard let index = servers.firstIndex(where: { $0.name == invitation.name && $0.zone == invitation.zone }) else {
            throw PaddingtonError(.invalidArgument, "no server \(invitation.name)@\(invitation.zone) to rotate")
        }
        do {
            servers[index].url = try WebSocketURL(parsing: invitation.url)
        } catch let error as PaddingtonError {
            throw PaddingtonError(.invalidInvitation, error.message)
        }
        servers[index].keys = invitation.keys
    }

    private func checkNewClient(_ name: String, zone: String, keys: EnvelopeKeys) throws {
        try Self.checkPeer(name: name, zone: zone)
        guard !clients.contains(where: { $0.name == name && $0.zone == zone }) else {
            throw PaddingtonError(.invalidArgument, "client \(name)@\(zone) already exists")
        }
        guard !keys.inner.isNull, !keys.outer.isNull else {
            throw PaddingtonError(.invalidArgument, "a client's keys must not be all zero")
        }
    }

    /// An invitation to `url`, refused when no client could dial it.
    private func makeInvitation(zone: String, keys: EnvelopeKeys, url: WebSocketURL) throws -> Invitation {
        if url.port == 0 {
            throw PaddingtonError(
                .invalidArgument,
                "\(name) cannot invite a client to \(url): port 0 is not a port a client can dial. Give the service a port "
                    + "(ServiceConfiguration(name:url:ip:port:) or setListenAddress(ip:port:url:)), or admit the client with "
                    + "admitClient(_:allowing:zone:keys:) and make its invitation with Mesh.invitation(for:zone:) once the mesh listens")
        }
        if let host = IPAddress(url.host), host.isUnspecified {
            throw PaddingtonError(
                .invalidArgument,
                "\(name) cannot invite a client to \(url): \(host) means every local address to a listener, and no client can "
                    + "dial it. Give the URL clients should dial (the url: argument, e.g. ws://<this host's name>:\(url.port)/)")
        }
        return try Invitation(name: name, url: url.description, zone: zone, keys: keys)
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
    /// - Throws: `PaddingtonError.Code.invalidConfiguration` naming the source and field.
    ///
    /// The files that `tls_certificate`, `tls_key` and `tls_ca` name are read and checked (PEM
    /// certificates, a private key that matches the certificate); a relative path is taken from the
    /// current folder (``load(from:)`` takes it from the file's folder).
    public static func parse(_ text: String, source: String = "<string>") throws -> ServiceConfiguration {
        try parse(text, source: source, directory: nil)
    }

    /// Parses configuration text whose relative TLS paths are relative to `directory` (nil: as given).
    static func parse(_ text: String, source: String, directory: String?) throws -> ServiceConfiguration {
        func resolved(_ path: String) -> String {
            guard let directory, !path.hasPrefix("/") else { return path }
            return directory.hasSuffix("/") ? directory + path : directory + "/" + path
        }
        let reader = TOMLReader(source: source, code: .invalidConfiguration)
        let root = try reader.parse(text)
        let name = try reader.name(root, "name", path: "name")
        let url = try reader.url(root, "url", path: "url")
        let ipText = try reader.string(root, "ip", path: "ip")
        guard let ip = IPAddress(ipText) else { throw reader.fail("ip", "is not an IP address: '\(ipText)'") }
        let port = try reader.integer(root, "port", path: "port", range: 0...65535)
        var config = try ServiceConfiguration(name: name, url: url.description, ip: ip.description, port: port)
        config.healthcheckPort = try reader.optionalInteger(root, "heathcheck_port", path: "heathcheck_port", range: 0...65535)
        config.proxyHeader = try reader.optionalString(root, "proxy_header", path: "proxy_header")
        if let header = config.proxyHeader, !Self.isHeaderName(header) {
            throw reader.fail("proxy_header", "is not an HTTP header name: '\(header)'")
        }
        config.trustedProxies = try reader.strings(root, "trusted_proxies", path: "trusted_proxies").enumerated().map { index, text in
            do {
                return try IPAllowance(parsing: text)
            } catch let error as PaddingtonError {
                throw reader.fail("trusted_proxies[\(index)]", error.message)
            }
        }
        config.protocolPolicy = try protocolPolicy(root, reader: reader, path: "protocol") ?? .auto
        config.tlsCertificate = try tlsPath(root, "tls_certificate", reader: reader).map(resolved)
        config.tlsKey = try tlsPath(root, "tls_key", reader: reader).map(resolved)
        config.tlsCA = try tlsPath(root, "tls_ca", reader: reader).map(resolved)
        _ = try TLSSetup.serverContext(for: config, source: source)
        if let ca = config.tlsCA { _ = try TLSSetup.certificates(at: ca, field: "tls_ca", source: source) }

        for (index, entry) in try reader.tables(root, "servers", path: "servers").enumerated() {
            let path = "servers[\(index)]"
            let server = ServerEntry(
                name: try reader.name(entry, "name", path: "\(path).name"),
                url: try reader.url(entry, "url", path: "\(path).url"),
                zone: try reader.zone(entry, "zone", path: "\(path).zone", default: Names.defaultZone),
                keys: EnvelopeKeys(
                    inner: try reader.key(entry, "inner_key", path: "\(path).inner_key"),
                    outer: try reader.key(entry, "outer_key", path: "\(path).outer_key")),
                protocolPolicy: try protocolPolicy(entry, reader: reader, path: "\(path).protocol"),
                tlsCA: try tlsPath(entry, "tls_ca", path: "\(path).tls_ca", reader: reader).map(resolved))
            if let ca = server.tlsCA { _ = try TLSSetup.certificates(at: ca, field: "\(path).tls_ca", source: source) }
            guard !config.servers.contains(where: { $0.name == server.name && $0.zone == server.zone }) else {
                throw reader.fail(path, "repeats server \(server.name)@\(server.zone)")
            }
            config.servers.append(server)
        }
        for (index, entry) in try reader.tables(root, "clients", path: "clients").enumerated() {
            let path = "clients[\(index)]"
            var client = ClientEntry(
                name: try reader.name(entry, "name", path: "\(path).name"),
                allowance: try allowance(entry, reader: reader, path: "\(path).ip"),
                zone: try reader.zone(entry, "zone", path: "\(path).zone", default: Names.defaultZone),
                keys: EnvelopeKeys(
                    inner: try reader.key(entry, "inner_key", path: "\(path).inner_key"),
                    outer: try reader.key(entry, "outer_key", path: "\(path).outer_key")),
                protocolPolicy: try protocolPolicy(entry, reader: reader, path: "\(path).protocol"))
            try readLifetime(of: &client, from: entry, reader: reader, path: path)
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

    /// The optional fields of a client entry about its keys' lifetime (ours; the Rust crate ignores them).
    private static func readLifetime(of client: inout ClientEntry, from entry: TOML.Table, reader: TOMLReader, path: String) throws {
        func date(_ key: String) throws -> Date? {
            guard let text = try reader.optionalString(entry, key, path: "\(path).\(key)") else { return nil }
            guard let date = Timestamp.parse(text) else {
                throw reader.fail("\(path).\(key)", "is not a date and time like 2026-12-01T09:30:00Z: '\(text.prefix(64))'")
            }
            return date
        }
        let hasPrevious = entry["previous_inner_key"] != nil || entry["previous_outer_key"] != nil || entry["previous_keys_until"] != nil
        if hasPrevious {
            client.previousKeys = EnvelopeKeys(
                inner: try reader.key(entry, "previous_inner_key", path: "\(path).previous_inner_key"),
                outer: try reader.key(entry, "previous_outer_key", path: "\(path).previous_outer_key"))
            guard let until = try date("previous_keys_until") else { throw reader.fail("\(path).previous_keys_until", "is missing") }
            client.previousKeysUntil = until
        }
        client.expires = try date("expires")
        if let value = entry["single_use"] {
            guard case .boolean(let flag) = value else { throw reader.fail("\(path).single_use", "must be true or false, not \(value.typeName)") }
            client.singleUse = flag
        }
    }

    /// Whether `text` is an HTTP header name (an RFC 9110 token).
    static func isHeaderName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 256 && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }

    private static func protocolPolicy(_ table: TOML.Table, reader: TOMLReader, path: String) throws -> ProtocolPolicy? {
        guard let text = try reader.optionalString(table, "protocol", path: path) else { return nil }
        guard let policy = ProtocolPolicy(text) else {
            throw reader.fail(path, "must be \"auto\", \"2\" (protocol 2 required) or \"1\" (protocol 1 only), not '\(text)'")
        }
        return policy
    }

    private static func tlsPath(_ table: TOML.Table, _ key: String, path: String? = nil, reader: TOMLReader) throws -> String? {
        guard let text = try reader.optionalString(table, key, path: path ?? key) else { return nil }
        guard !text.isEmpty else { throw reader.fail(path ?? key, "must name a PEM file, not be empty") }
        return text
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
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(
            try FileIO.read(path, code: .invalidConfiguration), source: path,
            directory: directory.isEmpty ? FileManager.default.currentDirectoryPath : directory)
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
        if !trustedProxies.isEmpty { root["trusted_proxies"] = .array(trustedProxies.map { .string($0.description) }) }
        if protocolPolicy != .auto { root["protocol"] = .string(protocolPolicy.description) }
        if let tlsCertificate { root["tls_certificate"] = .string(tlsCertificate) }
        if let tlsKey { root["tls_key"] = .string(tlsKey) }
        if let tlsCA { root["tls_ca"] = .string(tlsCA) }
        root["servers"] = .array(servers.map { server in
            var table = TOML.Table()
            table["name"] = .string(server.name)
            table["url"] = .string(server.url.description)
            table["zone"] = .string(server.zone)
            if let policy = server.protocolPolicy { table["protocol"] = .string(policy.description) }
            if let tlsCA = server.tlsCA { table["tls_ca"] = .string(tlsCA) }
            table["inner_key"] = .key(server.keys.inner)
            table["outer_key"] = .key(server.keys.outer)
            return .table(table)
        })
        root["clients"] = .array(clients.map { client in
            var table = TOML.Table()
            table["name"] = .string(client.name)
            table["ip"] = .single(client.allowance.isRange ? "Range" : "IP", .string(client.allowance.description))
            table["zone"] = .string(client.zone)
            if let policy = client.protocolPolicy { table["protocol"] = .string(policy.description) }
            table["inner_key"] = .key(client.keys.inner)
            table["outer_key"] = .key(client.keys.outer)
            if let previous = client.previousKeys, let until = client.previousKeysUntil {
                table["previous_inner_key"] = .key(previous.inner)
                table["previous_outer_key"] = .key(previous.outer)
                table["previous_keys_until"] = .string(Timestamp.format(until))
            }
            if let expires = client.expires { table["expires"] = .string(Timestamp.format(expires)) }
            if client.singleUse { table["single_use"] = .boolean(true) }
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
