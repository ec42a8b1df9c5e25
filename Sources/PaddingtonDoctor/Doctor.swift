import Foundation
import Logging
import Paddington

/// Checks a service's files, keys, listen address and servers, and explains each finding with its fix:
/// the engine of `paddington doctor`. It writes no file; its handshake with a server counts there as a
/// use of this service's invitation (an expiring one no longer expires; a single-use one is left as it
/// was: the probe declines the new keys, and the server keeps the invitation's).
///
/// ```swift
/// let doctor = Doctor(configuration: DoctorConfiguration(configPath: "portal.toml"), logger: logger)
/// let results = await doctor.run { print($0.line) }
/// let healthy = !results.contains { $0.status == .fail }
/// ```
///
/// The checks, in order: the configuration file's mode and owner; whether it parses; its keys; the
/// invitation files beside it (mode, owner, contents) and their folder (mode, owner); the clients' key
/// lifetimes (expiring and single-use invitations, a rotation's previous keys); the listen address (free,
/// or held by the running agent at that address); TLS (the certificate, a wss:// url, the key file's mode
/// and owner); each server entry (name resolved, each address in turn until one is TCP reachable,
/// WebSocket upgrade answered, handshake with our keys and the protocol it ran).
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
        report(tlsChecks(parsed))
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

    /// The listener's TLS certificate: readable, for which names, and how long it stays valid; the
    /// service's URL (what invitations give) says wss://; its key file is private and ours.
    func tlsChecks(_ service: ServiceConfiguration, now: Date = Date()) -> [DoctorCheck] {
        guard let path = service.tlsCertificate else {
            return [DoctorCheck("tls", .info, "TLS: not configured (the listener speaks plain ws://; tls_certificate and tls_key turn it on)")]
        }
        var checks = certificateChecks(path: path, service: service, now: now)
        if !service.url.isSecure {
            checks.append(DoctorCheck("tls.url", .warning, subject: "\(service.url)",
                "the listener speaks TLS (tls_certificate is set), but the service's url is \(service.url): invited clients would dial plain ws:// into a TLS port",
                fix: "paddington listen --port \(service.port) --url wss://\(service.url.host):\(service.url.port)/ (a name the certificate is for), "
                    + "then write new invitations (paddington rotate NAME)"))
        }
        if let key = service.tlsKey {
            checks += fileChecks(path: key, what: "the TLS key", kind: "tls.key",
                missingFix: "point tls_key at the certificate's private key (PEM), then paddington reload")
        }
        return checks
    }

    private func certificateChecks(path: String, service: ServiceConfiguration, now: Date) -> [DoctorCheck] {
        let leaf: (names: [String], notBefore: Date, notAfter: Date, covers: Bool)
        do {
            leaf = try TLSSetup.leaf(at: path, field: "tls_certificate", source: configuration.configPath, host: service.url.host)
        } catch {
            return [DoctorCheck("tls", .fail, subject: path, (error as? PaddingtonError)?.message ?? "\(error)",
                fix: "point tls_certificate at the PEM chain (leaf first), then paddington reload")]
        }
        let names = leaf.names.joined(separator: ", ")
        let days = Int(leaf.notAfter.timeIntervalSince(now) / 86_400)
        var checks: [DoctorCheck] = []
        if leaf.notAfter <= now {
            checks.append(DoctorCheck("tls", .fail, subject: path, "the TLS certificate for \(names) expired at \(Self.timestamp(leaf.notAfter)): clients refuse it",
                fix: "renew it into \(path), then paddington reload (no restart needed)"))
        } else if leaf.notBefore > now {
            checks.append(DoctorCheck("tls", .fail, subject: path, "the TLS certificate for \(names) is not valid before \(Self.timestamp(leaf.notBefore))",
                fix: "check this host's clock, or the certificate's dates"))
        } else if days < 14 {
            checks.append(DoctorCheck("tls", .warning, subject: path, "the TLS certificate for \(names) expires in \(days) day(s), at \(Self.timestamp(leaf.notAfter))",
                fix: "renew it into \(path), then paddington reload"))
        } else {
            checks.append(DoctorCheck("tls", .pass, subject: path, "the TLS certificate for \(names) is valid until \(Self.timestamp(leaf.notAfter))"))
        }
        let host = service.url.host
        if service.url.isSecure, !leaf.covers {
            checks.append(DoctorCheck("tls.name", .fail, subject: path,
                "the TLS certificate is for \(names), not \(host), the host the invitations give: clients refuse it",
                fix: "get a certificate for \(host), or give the url the certificate's name (paddington listen --url)"))
        }
        return checks
    }
}
