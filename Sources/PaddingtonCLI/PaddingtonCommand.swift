import ArgumentParser
import Logging
import Paddington

@main
struct PaddingtonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paddington",
        abstract: "Encrypted peer-to-peer service meshes, wire-compatible with the Rust paddington crate.",
        discussion: """
            A server service invites clients by name; each invitation holds its URL, zone and two keys. \
            Start with `paddington demo` to see two services count down over loopback.
            """,
        version: "0.1.0",
        subcommands: [
            Demo.self, Init.self, Listen.self, Invite.self, Accept.self, Peers.self, Remove.self, Rotate.self, Run.self,
            Status.self, Ping.self, Call.self, Send.self, Reload.self, Doctor.self,
        ])
}

/// The configuration file option shared by the subcommands that edit or run a service.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The service configuration file.", completion: .file(extensions: ["toml"]))
    var config = "service.toml"

    func load() throws -> ServiceConfiguration {
        try ServiceConfiguration.load(from: config)
    }
}

struct LogOptions: ParsableArguments {
    @Option(help: "Log level for the library's messages on stderr (trace, debug, info, notice, warning, error, critical).")
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

/// Turns library errors into a one-line message and exit code 1, instead of a stack of types.
func reporting<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as PaddingtonError {
        throw ValidationError(error.message)
    }
}

func zoneOrDefault(_ zone: String?) -> String { zone ?? "default" }
