import ArgumentParser
import Foundation
import Paddington

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a service configuration.")

    @Option(help: "The service's name (letters, digits, '_' and '-').")
    var name: String
    @Option(help: "The public URL clients will dial; http and https become ws and wss.")
    var url = "http://localhost:8042"
    @Option(help: "The address to listen on.")
    var ip = "127.0.0.1"
    @Option(help: "The port to listen on.")
    var port = 8042
    @OptionGroup var file: ConfigOption
    @Flag(help: "Overwrite an existing configuration file.")
    var force = false

    func run() async throws {
        try await reporting {
            if !force, FileManager.default.fileExists(atPath: file.config) {
                throw ValidationError("\(file.config) already exists; use --force to overwrite it")
            }
            let config = try ServiceConfiguration(name: name, url: url, ip: ip, port: port)
            try config.save(to: file.config)
            print("Created \(file.config) for service \(config.name) (listens on \(config.ip):\(config.port), URL \(config.url))")
        }
    }
}

struct Invite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Admit a client and write its invitation (mode 0600).")

    @Argument(help: "The client's service name.")
    var client: String
    @Option(help: "The address or IPv4 range (a.b.c.d/n) the client may connect from.")
    var ip: String
    @Option(help: "The zone of the link (default: default).")
    var zone: String?
    @Option(help: "Where to write the invitation (default: invitations/invite_<service>_<zone>.toml).", completion: .file())
    var out: String?
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            var config = try file.load()
            let invitation = try config.addClient(client, allowing: try IPAllowance(parsing: ip), zone: zone)
            let path = out ?? "invitations/invite_\(config.name)_\(invitation.zone).toml"
            try invitation.save(to: path)
            try config.save(to: file.config)
            print("Invited \(client)@\(invitation.zone) from \(ip); invitation written to \(path)")
            print("Send it to \(client) over a private channel: it holds the link's keys.")
        }
    }
}

struct Accept: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import an invitation: this service will dial the server that wrote it.")

    @Argument(help: "The invitation file.", completion: .file(extensions: ["toml"]))
    var invitation: String
    @Option(help: "Refuse the invitation unless it is for this zone.")
    var zone: String?
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            var config = try file.load()
            let invite = try Invitation.load(from: invitation)
            if let zone, zone != invite.zone {
                throw ValidationError("\(invitation) is for zone '\(invite.zone)', not '\(zone)'")
            }
            try config.addServer(invite)
            try config.save(to: file.config)
            print("Added server \(invite.name)@\(invite.zone) at \(config.servers.last?.url.description ?? invite.url)")
        }
    }
}

struct Peers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List this service's clients and servers (never their keys).")

    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            let config = try file.load()
            print("service \(config.name): listens on \(config.ip):\(config.port), URL \(config.url)")
            print("clients (\(config.clients.count)):")
            for client in config.clients { print("  \(client.name)@\(client.zone) from \(client.allowance)") }
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

struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give a client new keys and write its new invitation. The old keys stop working at once.")

    @Argument(help: "The client's name.")
    var name: String
    @Option(help: "The zone (default: default).")
    var zone: String?
    @Option(help: "Where to write the invitation (default: invitations/rotate_<service>_<zone>.toml).", completion: .file())
    var out: String?
    @OptionGroup var file: ConfigOption

    func run() async throws {
        try await reporting {
            var config = try file.load()
            let invitation = try config.rotateClientKeys(name, zone: zone)
            let path = out ?? "invitations/rotate_\(config.name)_\(invitation.zone).toml"
            try invitation.save(to: path)
            try config.save(to: file.config)
            print("New keys for \(name)@\(invitation.zone); invitation written to \(path)")
        }
    }
}
