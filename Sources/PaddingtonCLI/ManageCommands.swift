import ArgumentParser
import Foundation
import Paddington

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a service configuration.",
        discussion: """
            With --port (or --url), the service listens there once it has clients, and its invitations give \
            --url (default ws://<ip>:<port>/). Without --url and --port it is a client only: it dials the \
            servers whose invitations it accepts; `paddington listen` gives it a port later.
            """)

    @Option(help: "The service's name (letters, digits, '_' and '-').")
    var name: String
    @Option(help: "The public URL clients will dial; http and https become ws and wss (default: ws://<ip>:<port>/).")
    var url: String?
    @Option(help: "The address to listen on (default: 127.0.0.1).")
    var ip: String?
    @Option(help: "The port to listen on (default: the port of --url; without either, a client only).")
    var port: Int?
    @OptionGroup var file: ConfigOption
    @Flag(help: "Overwrite an existing configuration file.")
    var force = false

    func run() async throws {
        try await reporting {
            if !force, FileManager.default.fileExists(atPath: file.config) {
                throw ValidationError("\(file.config) already exists; use --force to overwrite it")
            }
            let config = try ServiceConfiguration(name: name, url: url, ip: ip ?? "127.0.0.1", port: port)
            try refuseUndialableURL(config, urlGiven: url != nil)
            try config.save(to: file.config)
            if config.isClientOnly {
                print("Created \(file.config) for service \(config.name), a client only: it dials the servers whose invitations it accepts")
                print("(paddington accept FILE --config \(file.config)) and listens for nobody.")
                print("To invite clients later, give it a port: paddington listen --port N [--url URL] --config \(file.config)")
            } else {
                print("Created \(file.config) for service \(config.name): it listens on \(listenAddress(config)) once it has clients;")
                print("invitations give the URL \(config.url)")
            }
        }
    }
}

struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set the address and port this service listens on, and the URL its invitations give.",
        discussion: """
            For a service created as a client only, or to move a service. Takes effect at the next \
            `paddington run`; invitations already written keep the URL they were made with.
            """)

    @Option(help: "The port to listen on (0: a free port at each start, which invitations cannot give).")
    var port: Int
    @Option(help: "The address to listen on (default: the current one).")
    var ip: String?
    @Option(help: "The public URL clients will dial (default: ws://<ip>:<port>/).")
    var url: String?
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            try ConfigurationLock.withLock(file.config) {
                var config = try file.load()
                let oldURL = config.url
                try config.setListenAddress(ip: ip ?? config.ip.description, port: port, url: url)
                try refuseUndialableURL(config, urlGiven: url != nil)
                try config.save(to: file.config)
                print("\(config.name) listens on \(listenAddress(config)) once it has clients; invitations give the URL \(config.url)")
                if !config.clients.isEmpty, oldURL != config.url {
                    print("Invitations already written give \(oldURL): write new ones with paddington rotate NAME.")
                }
            }
        }
    }
}

struct Invite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Admit a client and write its invitation (mode 0600).",
        discussion: """
            --expires makes the invitation's keys useless if they are not used in time (a first connection \
            keeps them). --single-use replaces the keys over the first link with a peer of ours, which \
            stores them, so that the file is useless afterwards; a Rust peer cannot take new keys, so for \
            it only --expires applies. A running server needs `paddington reload` to admit the client.
            """)

    @Argument(help: "The client's service name.")
    var client: String
    @Option(help: "The address or range the client may connect from (e.g. 127.0.0.1, 10.0.0.0/24, fd00:1::/64).")
    var ip: String
    @Option(help: "The zone of the link (default: default).")
    var zone: String?
    @Option(help: "Where to write the invitation (default: invitations/invite_<service>_<client>_<zone>.toml).", completion: .file())
    var out: String?
    @Option(help: "Refuse the invitation's keys if they are not used within this time (e.g. 1h, 7d).")
    var expires: DurationArgument?
    @Flag(help: "Replace the keys at the first connection (peers of ours), so that the file cannot be used again.")
    var singleUse = false
    @Flag(help: "Overwrite an existing invitation file.")
    var force = false
    @OptionGroup var file: ConfigOption

    func validate() throws {
        if let expires, expires.seconds == 0 { throw ValidationError("--expires must be more than 0 (e.g. 1h)") }
    }

    func run() async throws {
        try await reporting {
            try ConfigurationLock.withLock(file.config) {
                var config = try file.load()
                try refuseWithoutPort(config, file: file.config)
                let allowance = try IPAllowance(parsing: ip)
                let zone = zoneOrDefault(zone)
                let path = out ?? "invitations/invite_\(config.name)_\(client)_\(zone).toml"
                try refuseOverwrite(path, force: force)
                let invitation = try config.addClient(client, allowing: allowance, zone: zone)
                let index = config.clients.count - 1
                if let expires { config.clients[index].expires = Date(timeIntervalSinceNow: Double(expires.seconds)) }
                config.clients[index].singleUse = singleUse
                try saveBoth(invitation, to: path, force: force, config: config, configPath: file.config)
                print("Invited \(client)@\(invitation.zone) from \(allowance); invitation written to \(path)")
                if let until = config.clients[index].expires {
                    print("Its keys are refused after \(timestamp(until)) unless \(client) has connected by then.")
                }
                if singleUse { print("Single-use: its keys are replaced at the first connection of a peer of ours.") }
                print("Send it to \(client) over a private channel: it holds the link's keys.")
            }
        }
    }
}

struct Accept: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import an invitation: this service will dial the server that wrote it.",
        discussion: """
            An invitation from a server this service already has (same name and zone), such as one written \
            by `paddington rotate`, replaces that server's entry. A running agent picks it up with \
            `paddington reload` (at its next reconnection, or at once with `--now`).
            """)

    @Argument(help: "The invitation file.", completion: .file(extensions: ["toml"]))
    var invitation: String
    @Option(help: "Refuse the invitation unless it is for this zone.")
    var zone: String?
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            try ConfigurationLock.withLock(file.config) {
                var config = try file.load()
                let invite = try Invitation.load(from: invitation)
                if let zone, zone != invite.zone {
                    throw ValidationError("\(invitation) is for zone '\(invite.zone)', not '\(zone)'")
                }
                if let index = config.servers.firstIndex(where: { $0.name == invite.name && $0.zone == invite.zone }) {
                    // Its keys and URL; what the operator set on the entry (protocol, tls_ca) stays.
                    try config.rotateServerKeys(invite)
                    try config.save(to: file.config)
                    print("Replaced server \(invite.name)@\(invite.zone), now at \(config.servers[index].url), with the invitation's keys")
                    print("A running agent uses them after `paddington reload` (`--now` to reconnect at once).")
                } else {
                    try config.addServer(invite)
                    try config.save(to: file.config)
                    print("Added server \(invite.name)@\(invite.zone) at \(config.servers.last?.url.description ?? invite.url)")
                }
            }
        }
    }
}

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List this service's clients and servers (never their keys).")

    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            let config = try file.load()
            if config.isClientOnly {
                print("service \(config.name): a client only (no clients and no listen port; paddington listen gives it one)")
            } else if config.clients.isEmpty {
                print("service \(config.name): no clients yet, so it does not listen; with clients it listens on \(listenAddress(config)), URL \(config.url)")
            } else {
                print("service \(config.name): listens on \(listenAddress(config)), URL \(config.url)")
            }
            print("clients (\(config.clients.count)):")
            for client in config.clients {
                var notes: [String] = []
                if let expires = client.expires { notes.append("invitation expires \(timestamp(expires)) unless used") }
                if client.singleUse { notes.append("single-use") }
                if let until = client.previousKeysUntil { notes.append("previous keys accepted until \(timestamp(until))") }
                print("  \(client.name)@\(client.zone) from \(client.allowance)" + (notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")"))
            }
            print("servers (\(config.servers.count)):")
            for server in config.servers { print("  \(server.name)@\(server.zone) at \(server.url)") }
        }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a client or a server.")

    @Argument(help: "The peer's name.")
    var name: String
    @Option(help: "The zone (default: default).")
    var zone: String?
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            try ConfigurationLock.withLock(file.config) {
                var config = try file.load()
                let zone = zoneOrDefault(zone)
                let isClient = config.clients.contains { $0.name == name && $0.zone == zone }
                let isServer = config.servers.contains { $0.name == name && $0.zone == zone }
                guard isClient || isServer else { throw ValidationError("\(name)@\(zone) is neither a client nor a server of \(config.name)") }
                if isClient { try config.removeClient(name, zone: zone) }
                if isServer { try config.removeServer(name, zone: zone) }
                try config.save(to: file.config)
                print("Removed \(isClient ? "client" : "server") \(name)@\(zone)")
            }
        }
    }
}

struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give a client new keys and write its new invitation; the old keys keep working for an overlap.",
        discussion: """
            The old keys stay valid for --overlap (default 24h) or until the client first connects with \
            the new ones, whichever comes first; a live link is not cut. --overlap 0 ends them at once. \
            A running server needs `paddington reload`; the client takes the new invitation with \
            `paddington accept FILE` and `paddington reload` (`--now` to reconnect at once).
            """)

    @Option(help: "How long the old keys stay valid (e.g. 24h, 90m; 0: not at all).")
    var overlap = DurationArgument(seconds: 24 * 3600)

    @Argument(help: "The client's name.")
    var name: String
    @Option(help: "The zone (default: default).")
    var zone: String?
    @Option(help: "Where to write the invitation (default: invitations/rotate_<service>_<client>_<zone>.toml).", completion: .file())
    var out: String?
    @Flag(help: "Overwrite an existing invitation file.")
    var force = false
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            try ConfigurationLock.withLock(file.config) {
                var config = try file.load()
                let zone = zoneOrDefault(zone)
                try refuseWithoutPort(config, file: file.config)
                let path = out ?? "invitations/rotate_\(config.name)_\(name)_\(zone).toml"
                try refuseOverwrite(path, force: force)
                let invitation = try config.rotateClientKeys(name, zone: zone, keepingPreviousFor: overlap.duration)
                try saveBoth(invitation, to: path, force: force, config: config, configPath: file.config)
                print("New keys for \(name)@\(invitation.zone); invitation written to \(path)")
                if let until = config.clients.first(where: { $0.name == name && $0.zone == zone })?.previousKeysUntil {
                    print("The old keys work until \(timestamp(until)), or until \(name) connects with the new ones.")
                } else {
                    print("The old keys no longer work (once a running server reloads).")
                }
            }
        }
    }
}

/// `2026-12-01T09:30:00Z`.
func timestamp(_ date: Date) -> String {
    Timestamp.format(date)
}

/// `127.0.0.1:6501`, `[::1]:6501`, or `127.0.0.1, a free port` for port 0.
func listenAddress(_ config: ServiceConfiguration) -> String {
    let host: String
    if case .v6 = config.ip { host = "[\(config.ip)]" } else { host = config.ip.description }
    return config.port == 0 ? "\(host), a free port chosen at each start" : "\(host):\(config.port)"
}

/// Refuses a derived URL on the any-address (`--ip 0.0.0.0` without `--url`): no client could dial it.
func refuseUndialableURL(_ config: ServiceConfiguration, urlGiven: Bool) throws {
    guard !urlGiven, config.port != 0, let host = IPAddress(config.url.host), host == .v4(0) || host == IPAddress("::") else { return }
    throw ValidationError(
        "--ip \(config.ip) listens on every address, and no client can dial \(config.url): give --url with the address clients should dial (e.g. --url http://<this host's name>:\(config.port))")
}

/// Refuses to invite when the URL has no port a client could dial; nothing is changed.
func refuseWithoutPort(_ config: ServiceConfiguration, file: String) throws {
    guard config.url.port == 0 else { return }
    let why = config.isClientOnly ? "is a client only" : "listens on a free port chosen at each start"
    throw ValidationError(
        "\(config.name) \(why), so an invitation could not say where to dial (\(config.url)). Give it a port first: paddington listen --port N [--url URL] --config \(file)")
}

/// Refuses before anything changes when `path` exists and `--force` was not given.
func refuseOverwrite(_ path: String, force: Bool) throws {
    guard !force, FileManager.default.fileExists(atPath: path) else { return }
    throw ValidationError("\(path) already exists; nothing was changed. Use --force to overwrite it, or --out to write elsewhere")
}

/// Writes the invitation (never over an existing file without `force`), then the configuration; if
/// the configuration cannot be written, a newly created invitation file is removed again.
func saveBoth(_ invitation: Invitation, to path: String, force: Bool, config: ServiceConfiguration, configPath: String) throws {
    let existed = FileManager.default.fileExists(atPath: path)
    do {
        try invitation.save(to: path, replacing: force)
    } catch let error as PaddingtonError where !force && error.message == "\(path) already exists" {
        throw ValidationError("\(path) already exists; nothing was changed. Use --force to overwrite it, or --out to write elsewhere")
    }
    do {
        try config.save(to: configPath)
    } catch {
        if !existed { try? FileManager.default.removeItem(atPath: path) }
        throw error
    }
}
