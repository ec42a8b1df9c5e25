import Logging
import NIOCore
import NIOPosix
import Paddington
import PaddingtonCrypto

extension Doctor {
    /// One server entry: resolved, reachable, upgradable, accepting our keys, and on which protocol.
    /// A server the running agent is linked to now is reported from the agent's status, not dialled
    /// (a second link for the same name and zone would wait as standby).
    func serverChecks(_ server: ServerEntry, service: ServiceConfiguration, agent: RunningAgent?) async -> [DoctorCheck] {
        let peer = "\(server.name)@\(server.zone)"
        let label = "server \(peer)"
        if let link = agent?.links.first(where: { $0.peer == server.name && $0.zone == server.zone && $0.direction == "out" }) {
            return [
                DoctorCheck("server.link", .pass, subject: peer, "\(label): linked now by the running agent, not dialled again"),
                protocolCheck(peer: peer, version: link.protocol, engine: nil),
            ]
        }
        var checks: [DoctorCheck] = []
        let host = server.url.host
        // Resolve.
        let addresses: [String]
        if IPAddress(host) != nil {
            addresses = [host]
            checks.append(DoctorCheck("server.resolve", .pass, subject: peer, "\(label): \(host) is an address, nothing to resolve"))
        } else {
            do {
                let resolve = configuration.resolve
                guard let resolved = try await withDeadlineDetached(configuration.timeout, { try await resolve(host) }) else {
                    checks.append(DoctorCheck("server.resolve", .fail, subject: peer,
                        "\(label): resolving \(host) took longer than \(configuration.timeout)",
                        fix: "check this host's DNS resolver (/etc/resolv.conf)"))
                    return checks
                }
                guard !resolved.isEmpty else {
                    throw PaddingtonError(.transport, "no addresses")
                }
                addresses = resolved
                let shown = resolved.prefix(4).joined(separator: ", ") + (resolved.count > 4 ? ", …" : "")
                checks.append(DoctorCheck("server.resolve", .pass, subject: peer, "\(label): \(host) resolves to \(shown)"))
            } catch {
                let reason = (error as? PaddingtonError)?.message ?? "\(error)"
                checks.append(DoctorCheck("server.resolve", .fail, subject: peer, "\(label): \(host) does not resolve (\(reason))",
                    fix: "check the host in the server's URL (\(server.url)) and this host's DNS"))
                return checks
            }
        }
        // Reach over TCP: each address in turn, as the dialler does; the first that accepts a connection
        // is the one the upgrade and the handshake use.
        var failures: [(target: String, problem: String, fix: String)] = []
        var reached: String?
        for candidate in addresses {
            let target = Self.target(candidate, port: server.url.port)
            if let failure = await reach(address: candidate, port: server.url.port) {
                failures.append((target, failure.problem, failure.fix))
            } else {
                reached = candidate
                break
            }
        }
        guard let address = reached else {
            if failures.count == 1, let only = failures.first {
                checks.append(DoctorCheck("server.reachable", .fail, subject: peer, "\(label): \(only.target) \(only.problem)", fix: only.fix))
            } else {
                let each = failures.map { "\($0.target) \($0.problem)" }.joined(separator: "; ")
                checks.append(DoctorCheck("server.reachable", .fail, subject: peer,
                    "\(label): none of the \(failures.count) addresses of \(host) accepts a TCP connection: \(each)",
                    fix: failures.last?.fix ?? "check the address and port in the server's URL"))
            }
            return checks
        }
        let target = Self.target(address, port: server.url.port)
        // The addresses tried before it, and why each failed.
        let before = failures.map { "; before it, \($0.target) \($0.problem)" }.joined()
        checks.append(DoctorCheck("server.reachable", .pass, subject: peer, "\(label): \(target) accepts TCP connections\(before)"))
        guard !server.url.isSecure else {
            // TLS: the handshake checks the certificate for the URL's host, so the name is kept.
            checks.append(DoctorCheck("server.upgrade", .info, subject: peer,
                "\(label): \(server.url) is TLS: the upgrade is checked by the handshake below"))
            checks += await handshakeChecks(server, service: service, label: label)
            return checks
        }
        // Upgrade.
        let policy = server.protocolPolicy ?? service.protocolPolicy
        let offer = NegotiatedProtocol.clientOffer(policy: policy)
        let upgrade = await upgradeCheck(server, label: label, address: address, offer: offer)
        checks.append(upgrade)
        guard upgrade.status == .pass else { return checks }
        // Handshake, with the address that answered above: every step tests the same address, and the
        // name is not resolved twice (the upgrade probe above sent the name in its Host header).
        var dialled = server
        dialled.url.host = address
        checks += await handshakeChecks(dialled, service: service, label: label)
        return checks
    }

    /// `address:port`, an IPv6 address in brackets.
    static func target(_ address: String, port: Int) -> String {
        address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    private func reach(address: String, port: Int) async -> (problem: String, fix: String)? {
        do {
            let target = try SocketAddress(ipAddress: address, port: port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(configuration.timeout.timeAmount)
                .connect(to: target).get()
            try? await channel.close()
            return nil
        } catch let error as IOError where error.errnoCode == ECONNREFUSED {
            return ("refuses connections (nothing listens there)", "start the server, or correct the port in its URL")
        } catch is ChannelError {
            return ("does not answer a TCP connect within \(configuration.timeout) (a firewall may drop it, or the host is down)",
                "check the route and firewalls between here and the server")
        } catch {
            return ("cannot be connected to: \(error)", "check the address and port in the server's URL")
        }
    }

    private func upgradeCheck(_ server: ServerEntry, label: String, address: String, offer: String?) async -> DoctorCheck {
        let peer = "\(server.name)@\(server.zone)"
        let answer: UpgradeProbe.Answer
        do {
            answer = try await UpgradeProbe.probe(
                address: address, port: server.url.port, url: server.url, keys: server.keys, offer: offer, timeout: configuration.timeout)
        } catch {
            return DoctorCheck("server.upgrade", .fail, subject: peer, "\(label): the upgrade request could not be sent: \(error)",
                fix: "run doctor again; the server may be restarting")
        }
        switch answer {
        case .status(101, _):
            return DoctorCheck("server.upgrade", .pass, subject: peer, "\(label): answers the WebSocket upgrade with 101 Switching Protocols")
        case .status(403, _):
            return DoctorCheck("server.upgrade", .fail, subject: peer,
                "\(label): refuses the upgrade with HTTP 403: no client is allowed from this host's address there",
                fix: "ask \(server.name)'s operator to allow this host's address (`paddington invite NAME --ip ADDRESS` there)")
        case .status(426, _):
            return DoctorCheck("server.upgrade", .fail, subject: peer,
                "\(label): requires protocol 2 (HTTP 426), and protocol 2 is off for this server here",
                fix: "remove `protocol = \"1\"` from this server's entry (or the top of the file)")
        case .status(let code, let reason):
            return DoctorCheck("server.upgrade", .fail, subject: peer,
                "\(label): answers the upgrade with HTTP \(code) \(reason) instead of 101: not a paddington service at \(server.url)?",
                fix: "check the URL's port and path (a proxy in front must pass WebSocket upgrades)")
        case .notHTTP(let start):
            return DoctorCheck("server.upgrade", .fail, subject: peer,
                "\(label): answers with something that is not HTTP (\"\(start)\"): another service listens on that port",
                fix: "check the port in the server's URL (\(server.url))")
        case .closed:
            return DoctorCheck("server.upgrade", .fail, subject: peer,
                "\(label): closes the connection without answering the upgrade: not a paddington service, or it refused this host",
                fix: "check the port in the server's URL (\(server.url)) and the server's log")
        case .silent:
            return DoctorCheck("server.upgrade", .fail, subject: peer,
                "\(label): does not answer the upgrade within \(configuration.timeout): not a paddington service (or a TLS port)?",
                fix: "check the port and scheme in the server's URL (\(server.url))")
        }
    }

    /// A full handshake with a mesh of our own that only dials this server, then stop.
    private func handshakeChecks(_ server: ServerEntry, service: ServiceConfiguration, label: String) async -> [DoctorCheck] {
        let peer = "\(server.name)@\(server.zone)"
        var probe: ServiceConfiguration
        do {
            probe = try ServiceConfiguration(name: service.name)  // a client only: no clients, so no listener
        } catch {
            return [DoctorCheck("server.handshake", .fail, subject: peer, "\(label): cannot build the probe: \(error)")]
        }
        // What the dialler reads from the service besides the entry: the protocol policy and the
        // service-wide CA for wss:// entries without a tls_ca of their own.
        probe.protocolPolicy = service.protocolPolicy
        probe.tlsCA = service.tlsCA
        probe.servers = [server]
        let options = MeshConfiguration(
            handshakeTimeout: configuration.timeout,
            reconnect: ReconnectPolicy(initialDelay: .seconds(3600), maximumDelay: .seconds(3600)),
            shutdownTimeout: .seconds(2), closeTimeout: .seconds(2))
        // No configurationChanged: new keys a server sends for a single-use invitation are declined as
        // not stored, and the server keeps the invitation's (the doctor changes nothing).
        let mesh = Mesh(configuration: probe, options: options, logger: logger)
        let events = mesh.events  // subscribed before it runs, so nothing is missed
        let running = Task { try await mesh.run() }
        // Each step has the timeout; connect, upgrade and four frames at most, plus a margin.
        let limit = configuration.timeout * 6
        let outcome = await withTaskGroup(of: HandshakeOutcome?.self) { group in
            group.addTask {
                for await event in events {
                    switch event {
                    case .peerConnected(let info): return .connected(info)
                    case .handshakeFailed(_, _, let error): return .failed(error)
                    default: continue
                    }
                }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return Task.isCancelled ? nil : .timedOut
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        mesh.shutdown()
        _ = try? await running.value
        switch outcome {
        case .connected(let info):
            return [
                DoctorCheck("server.handshake", .pass, subject: peer,
                    "\(label): accepts our keys (handshake completed with \(info.engine) \(info.version), then closed)"),
                protocolCheck(peer: peer, version: info.protocolVersion, engine: info.engine),
            ]
        case .failed(let error):
            let (problem, fix) = Self.explain(error, server: server)
            return [DoctorCheck("server.handshake", .fail, subject: peer, "\(label): handshake failed: \(problem)", fix: fix)]
        case .timedOut, nil:
            return [DoctorCheck("server.handshake", .fail, subject: peer,
                "\(label): the handshake did not finish within \(limit): the server may hold a link for \(service.name)@\(server.zone) already (this connection then waits as standby)",
                fix: "stop the other agent of \(service.name), or run doctor while it runs (it then reads the link from the control socket)")]
        }
    }

    private enum HandshakeOutcome: Sendable {
        case connected(PeerInfo)
        case failed(PaddingtonError)
        case timedOut
    }

    /// The line for the protocol a link runs (or ran in the probe).
    func protocolCheck(peer: String, version: Int, engine: String?) -> DoctorCheck {
        if version >= 2 {
            return DoctorCheck("server.protocol", .pass, subject: peer, "server \(peer): the link runs protocol \(version)")
        }
        let rust = engine == "paddington" ? " (a Rust peer: expected)" : ""
        return DoctorCheck("server.protocol", .warning, subject: peer,
            "server \(peer): the link runs protocol 1, the Rust format: no forward secrecy, no replay protection\(rust)",
            fix: engine == "paddington" ? nil : "set `protocol = \"2\"` in the entry to refuse protocol 1 with this server")
    }

    /// What a handshake failure means to an operator, and what to do.
    static func explain(_ error: PaddingtonError, server: ServerEntry) -> (String, String) {
        let reason = "\(error.message) (\(error.code))"
        switch error.code {
        case .authenticationFailed, .decryptionFailed:
            return ("wrong keys: the server does not hold this invitation's keys: \(reason)",
                "ask \(server.name)'s operator for a new invitation (`paddington rotate` there), then `paddington accept` it here and `paddington reload`")
        case .connectionClosed, .connectionLost:
            // A server that holds no matching keys says nothing: it closes after our first frame.
            return ("wrong keys, most likely: the server closed the connection after the upgrade without a word, as it does when no client it allows from this address holds these keys: \(reason)",
                "ask \(server.name)'s operator for a new invitation (`paddington rotate` there), then `paddington accept` it here and `paddington reload`")
        case .ipNotAllowed:
            return ("IP not allowed: \(reason)", "ask \(server.name)'s operator to allow this host's address (`paddington invite NAME --ip ADDRESS` there)")
        case .peerNameMismatch, .peerZoneMismatch:
            return ("the server is not the one the invitation names: \(reason)", "check the URL of the entry: another service answers there")
        case .protocolVersionMismatch, .downgradeDetected:
            return ("the protocols do not agree: \(reason)", "check `protocol` in this entry and on the server")
        case .timeout:
            return ("timeout: \(reason)", "the server is overloaded or a proxy holds the connection; try again, or raise --timeout")
        case .tls:
            return ("TLS: \(reason)",
                "renew the server's certificate, or name the CA that signed it with tls_ca (in this entry, or at the top of the file for every server), or dial the host the certificate names")
        case .transport:
            return ("cannot connect: \(reason)", "check that the server runs and the URL's port")
        default:
            return (reason, "see the server's log for this connection")
        }
    }
}
