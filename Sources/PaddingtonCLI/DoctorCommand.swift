import ArgumentParser
import EchoCore
import Foundation
import Logging
import PaddingtonDoctor

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a service's files, keys, listen address and servers, and say how to fix what is wrong.",
        discussion: """
            One line per check: ✔ passed, ! a warning, ✘ failed (with the fix after the colon), - not \
            checked. It checks the configuration file's mode (0600) and owner; that it loads and its keys \
            (well-formed, inner and outer different, none shared by two peers); the invitation files in \
            invitations/ beside it (mode, owner, contents) and that folder (owned by this user, writable by \
            it only); the listen address (free, or held by the running agent at that address, asked \
            through its control socket); the listener's TLS certificate, its key file (0600, owned by this \
            user) and a wss:// url; and each server entry: its host resolves, one of its addresses takes a \
            TCP connection (each is tried in turn), it answers the WebSocket upgrade with 101, and it \
            completes a handshake with our keys (wss:// servers checked against tls_ca, the entry's or the \
            service's), and which protocol that link runs (1, the Rust format, or 2). It writes no file. \
            The handshake is a real connection: the server counts it as a use of this service's \
            invitation. An expiring invitation then no longer expires; a single-use one is left as it was \
            (doctor declines the new keys, and the server keeps the invitation's). Exit codes: 0 no check failed (warnings allowed), 1 at least one check failed, 64 a \
            bad argument.
            """)

    @Option(name: .long, help: "The service configuration file.", completion: .file(extensions: ["toml"]))
    var config = "service.toml"
    @Option(help: "The folder of invitation files (default: invitations/ beside the configuration file).", completion: .directory)
    var invitations: String?
    @Option(help: "The running agent's control socket (default: the one `paddington run` opens for this service).", completion: .file())
    var control: String?
    @Option(help: "Seconds allowed for each network step (resolve, connect, upgrade, each handshake step).")
    var timeout: Double = 5
    @Flag(help: "Do not dial the servers (files, keys and the listen address only).")
    var noDial = false
    @Flag(help: "Print one JSON object per check instead of lines.")
    var json = false
    @Option(help: "Log level for the library's messages on stderr.")
    var logLevel: Logger.Level = .critical

    func validate() throws {
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be more than 0 and at most 600 seconds") }
    }

    func run() async throws {
        var logger = Logger(label: "paddington.doctor") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = logLevel
        let settings = DoctorConfiguration(
            configPath: config, invitationsPath: invitations, controlPath: control,
            timeout: .milliseconds(Int64(timeout * 1000)), checkServers: !noDial)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let results = await PaddingtonDoctor.Doctor(configuration: settings, logger: logger).run { check in
            // say: unbuffered, so each line shows while slower checks run.
            say(json ? String(decoding: (try? encoder.encode(check)) ?? Data(), as: UTF8.self) : check.line)
        }
        guard PaddingtonDoctor.Doctor.healthy(results) else { throw ExitCode(1) }
    }
}
