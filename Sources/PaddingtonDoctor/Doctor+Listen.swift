import Foundation
import NIOCore
import NIOPosix
import Paddington
import PaddingtonControl

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Doctor {
    /// The service's running agent, as its control socket describes it.
    struct RunningAgent {
        var path: String
        var listen: String?
        var links: [ControlResponse.Link]
    }

    /// Asks the control socket for `status`; nil when nothing answers within the timeout.
    func runningAgent(_ service: ServiceConfiguration) async -> RunningAgent? {
        let path = configuration.controlPath ?? ControlPath.default(for: service.name)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let response = try await withDeadline(configuration.timeout) {
                try await ControlClient.withConnection(path: path) { client in
                    try await client.send(ControlRequest(command: "status"))
                }
            }
            guard let response, response.ok, let result = response.result, result.service == service.name else { return nil }
            return RunningAgent(path: path, listen: result.listen, links: result.links ?? [])
        } catch {
            logger.debug("the control socket did not answer", metadata: ["control.path": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    /// Whether the listener could bind its address now, and if not, whether the running agent holds it.
    func listenCheck(_ service: ServiceConfiguration, agent: RunningAgent?) async -> DoctorCheck {
        if service.clients.isEmpty {
            if service.port == 0 {
                return DoctorCheck("listen", .info, "listen: \(service.name) is a client only and listens nowhere")
            }
            return DoctorCheck("listen", .info, "listen: \(service.name) has no clients, so it does not listen on \(service.ip):\(service.port)")
        }
        if service.port == 0 {
            return DoctorCheck("listen", .pass, "listen: \(service.ip), on a free port chosen at each start")
        }
        let address = service.ip.description.contains(":") ? "[\(service.ip)]:\(service.port)" : "\(service.ip):\(service.port)"
        let errno: Int32?
        do {
            let socketAddress = try SocketAddress(ipAddress: service.ip.description, port: service.port)
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(to: socketAddress).get()
            try? await channel.close()
            errno = nil
        } catch let error as IOError {
            errno = error.errnoCode
        } catch {
            return DoctorCheck("listen", .fail, subject: address, "listen: cannot bind \(address): \(error)",
                fix: "choose another address with `paddington listen --ip IP --port N`")
        }
        guard let errno else {
            return DoctorCheck("listen", .pass, subject: address, "listen: \(address) is free (bound and released it)")
        }
        switch errno {
        case EADDRINUSE:
            if let agent {
                // The agent reports `ip:port` (IPv6 without brackets), from the configuration it started with.
                let expected = "\(service.ip):\(service.port)"
                if agent.listen == expected {
                    return DoctorCheck("listen", .pass, subject: address,
                        "listen: \(address) is held by the running agent of \(service.name) (its control socket \(agent.path) answers)")
                }
                let actual = agent.listen.map { "listens on \($0)" } ?? "listens nowhere"
                return DoctorCheck("listen", .warning, subject: address,
                    "listen: \(address) is in use, but the running agent of \(service.name) \(actual) (its control socket \(agent.path) answers): it started with another configuration, or something else holds the port",
                    fix: "restart the agent with this configuration (a reload cannot move the listener); find the port's holder with `ss -ltnp 'sport = :\(service.port)'`")
            }
            return DoctorCheck("listen", .warning, subject: address,
                "listen: \(address) is in use: a running agent of \(service.name) may hold it (its control socket does not answer: --no-control, or another --control path)",
                fix: "if no agent runs, find the holder with `ss -ltnp 'sport = :\(service.port)'`, or move with `paddington listen --port N`")
        case EADDRNOTAVAIL:
            return DoctorCheck("listen", .fail, subject: address, "listen: \(service.ip) is not an address of this host",
                fix: "listen on one of this host's addresses (or 0.0.0.0) with `paddington listen --ip IP --port \(service.port)`")
        case EACCES:
            return DoctorCheck("listen", .fail, subject: address, "listen: binding port \(service.port) is not permitted to this user",
                fix: "use a port above 1023 (`paddington listen --port N`), or grant CAP_NET_BIND_SERVICE")
        default:
            return DoctorCheck("listen", .fail, subject: address, "listen: cannot bind \(address): \(String(cString: strerror(errno)))",
                fix: "choose another address with `paddington listen --ip IP --port N`")
        }
    }
}
