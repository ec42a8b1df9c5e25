import Logging
import Paddington

/// Checks a service's files, keys, listen address and servers, and explains each finding with its fix:
/// the engine of `paddington doctor`. It changes nothing.
///
/// ```swift
/// let doctor = Doctor(configuration: DoctorConfiguration(configPath: "portal.toml"), logger: logger)
/// let results = await doctor.run { print($0.line) }
/// let healthy = !results.contains { $0.status == .fail }
/// ```
///
/// The checks, in order: the configuration file's mode and owner; whether it parses; its keys; the
/// invitation files beside it (mode, owner, contents) and their folder; the listen address (free, or held
/// by the running agent); each server entry (name resolved, TCP reachable, WebSocket upgrade answered,
/// handshake with our keys and the protocol it ran); the clients' key lifetimes (expiring and single-use
/// invitations, a rotation's previous keys); and TLS.
package struct Doctor: Sendable {
    /// What to check.
    package let configuration: DoctorConfiguration
    /// Where the meshes it runs for handshakes log, and its own debug messages.
    package let logger: Logger

    /// A doctor for one service configuration.
    package init(configuration: DoctorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs every check and returns the results in order; `onCheck` sees each one as soon as it is known.
    package func run(onCheck: (DoctorCheck) -> Void = { _ in }) async -> [DoctorCheck] {
        var results: [DoctorCheck] = []
        func report(_ checks: [DoctorCheck]) {
            for check in checks {
                results.append(check)
                onCheck(check)
            }
        }
        let path = configuration.configPath
        report(fileChecks(path: path, what: "the configuration"))
        let (parsed, parseChecks) = parseConfiguration()
        report(parseChecks)
        if let parsed { report(keyChecks(parsed)) }
        report(invitationChecks(service: parsed))
        report(lifetimeChecks(parsed))
        guard let parsed else { return results }
        let agent = await runningAgent(parsed)
        report([await listenCheck(parsed, agent: agent)])
        report([tlsHook(parsed)])
        if configuration.checkServers {
            for server in parsed.servers {
                report(await serverChecks(server, service: parsed, agent: agent))
            }
        } else if !parsed.servers.isEmpty {
            report([DoctorCheck("server", .info, "\(parsed.servers.count) server(s) not dialled (--no-dial)")])
        }
        return results
    }

    /// True when no check failed (warnings allowed).
    package static func healthy(_ results: [DoctorCheck]) -> Bool {
        !results.contains { $0.status == .fail }
    }

    /// The checks that other parts of the project will fill in.
    func tlsHook(_ service: ServiceConfiguration) -> DoctorCheck {
        DoctorCheck("tls", .info, "TLS certificates: not configured (this build listens and dials plain ws:// only)")
    }
}
