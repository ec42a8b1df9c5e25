import ArgumentParser
import EchoCore
import Foundation
import Logging
import Paddington
import ServiceLifecycle

@main
struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paddington-echo",
        abstract: "The echo countdown between two paddington services.",
        discussion: """
            Start the server; it writes an invitation for echo-client. Start the client with that invitation. \
            When the client connects the server sends it a number; each side sends back what it gets, the server \
            one less, until 0 and "Blast off!".
            """,
        subcommands: [Server.self, Client.self])
}

struct LogOptions: ParsableArguments {
    @Option(help: "Library log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = logLevel
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension ProtocolPolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var allValueStrings: [String] { ["auto", "2", "1"] }
}

struct ProtocolOption: ParsableArguments {
    @Option(name: .customLong("protocol"),
            help: "Wire protocol: auto (2 with a peer that supports it, else 1), 2 (required) or 1 (the Rust format only).")
    var policy: ProtocolPolicy = .auto
}

struct Server: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run echo-server and write the invitation for echo-client.")

    @Option(name: .shortAndLong, help: "The URL written in the invitation.")
    var url = "http://localhost:6501"
    @Option(name: .shortAndLong, help: "The address to listen on.")
    var ip = "127.0.0.1"
    @Option(name: .shortAndLong, help: "The port to listen on.")
    var port = 6501
    @Option(name: .shortAndLong, help: "The address or IPv4 range echo-client may connect from.")
    var range = "127.0.0.1"
    @Option(name: [.customShort("c"), .long], help: "Where to write the invitation.", completion: .file())
    var invitation = "invitation.toml"
    @Option(help: "The number the countdown starts from.")
    var start = 1000
    @Flag(help: "Issue new keys even when the invitation file is already a valid invitation for this server.")
    var fresh = false
    @OptionGroup var wire: ProtocolOption
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard start >= 1 else { throw ValidationError("--start must be at least 1") }
    }

    func run() async throws {
        let logger = log.makeLogger(Countdown.serverName)
        var config = try ServiceConfiguration(name: Countdown.serverName, url: url, ip: ip, port: port)
        config.protocolPolicy = wire.policy
        let allowance = try IPAllowance(parsing: range)
        // A restarted server keeps its client: reuse the invitation it wrote before, if it still fits.
        if !fresh, let existing = try? Invitation.load(from: invitation),
            existing.name == config.name, existing.url == config.url.description, existing.zone == "default"
        {
            try config.addClient(Countdown.clientName, allowing: allowance, keys: existing.keys)
            say("Reusing the invitation in \(invitation) (use --fresh for new keys)")
        } else {
            let created = try config.addClient(Countdown.clientName, allowing: allowance)
            try created.save(to: invitation)
            say("Invitation for \(Countdown.clientName) written to \(invitation)")
        }
        let mesh = Mesh(configuration: config, logger: logger)
        let group = serviceGroup(running: mesh, logger: logger)
        Countdown.installServer(on: mesh) { Task { await group.triggerGracefulShutdown() } }
        try await runGroup(group, mesh: mesh) { event in
            await Countdown.serverEvent(event, mesh: mesh, start: start)
        }
    }
}

struct Client: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run echo-client with an invitation from echo-server.")

    @Option(name: [.customShort("c"), .long], help: "The invitation written by the server.", completion: .file())
    var invitation: String
    @OptionGroup var wire: ProtocolOption
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.makeLogger(Countdown.clientName)
        var config = try ServiceConfiguration(name: Countdown.clientName)
        config.protocolPolicy = wire.policy
        try config.addServer(try Invitation.load(from: invitation))
        let mesh = Mesh(configuration: config, logger: logger)
        let group = serviceGroup(running: mesh, logger: logger)
        Countdown.installClient(on: mesh) { Task { await group.triggerGracefulShutdown() } }
        try await runGroup(group, mesh: mesh) { _ in }
    }
}

/// A ServiceGroup for `mesh`: SIGINT and SIGTERM shut it down gracefully, and so does the countdown
/// when it is over (with the group's `triggerGracefulShutdown()`).
func serviceGroup(running mesh: Mesh, logger: Logger) -> ServiceGroup {
    ServiceGroup(configuration: .init(
        services: [.init(service: mesh)],
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
}

/// Runs `group` and feeds the mesh's events to `onEvent` until the mesh stops.
func runGroup(_ group: ServiceGroup, mesh: Mesh, onEvent: @escaping @Sendable (MeshEvent) async -> Void) async throws {
    let events = Task { [stream = mesh.events] in
        for await event in stream { await onEvent(event) }
    }
    try await group.run()
    await events.value
}

