import Foundation
import Paddington

/// Runs the commands of the control socket against a mesh: a line of JSON in, a response out. Never
/// throws; whatever goes wrong is a failure response.
struct ControlHandler: Sendable {
    let mesh: Mesh
    let startedAt: ContinuousClock.Instant
    /// Re-reads the configuration and puts it in force (`reload`); nil when the agent has no file.
    let reload: ControlServer.Reload?

    func handle(_ line: [UInt8]) async -> ControlResponse {
        let request: ControlRequest
        do {
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line))
        } catch {
            return .failure("invalidJSON", "a control command is one JSON object per line, e.g. {\"command\":\"status\"}")
        }
        do {
            return .success(try await run(request))
        } catch let error as PaddingtonError {
            return .failure(error.code.description, error.message)
        } catch {
            return .failure("remoteError", "\(error)")
        }
    }

    private func run(_ request: ControlRequest) async throws -> ControlResponse.Result {
        switch request.command {
        case "status":
            return await status()
        case "info":
            let info = try JSONEncoder().encode(mesh.serviceInfo)
            return ControlResponse.Result(body: String(decoding: info, as: UTF8.self))
        case "ping":
            let (name, zone) = try peer(of: request)
            let rtt = try await mesh.ping(name, zone: zone, timeout: try timeout(of: request))
            return ControlResponse.Result(rttMilliseconds: Double(rtt.components.seconds) * 1e3 + Double(rtt.components.attoseconds) / 1e15)
        case "call":
            let (name, zone) = try peer(of: request)
            guard let route = request.route else { throw PaddingtonError(.invalidArgument, "call needs a route") }
            let reply = try await mesh.request(request.body ?? "", to: name, zone: zone, route: route, timeout: try timeout(of: request))
            return ControlResponse.Result(body: reply.payload)
        case "send":
            let (name, zone) = try peer(of: request)
            guard let payload = request.payload, !payload.isEmpty else { throw PaddingtonError(.invalidArgument, "send needs a payload") }
            try await mesh.send(payload, to: name, zone: zone)
            return ControlResponse.Result()
        case "reload":
            guard let reload else {
                throw PaddingtonError(.invalidArgument, "this agent was not started from a configuration file, so it cannot reload")
            }
            return ControlResponse.Result(changes: try await reload(request.now ?? false).description)
        default:
            throw PaddingtonError(.invalidArgument,
                "unknown command '\(request.command)' (the commands are \(ControlRequest.commands.joined(separator: ", ")))")
        }
    }

    private func status() async -> ControlResponse.Result {
        let port = try? await mesh.listeningPort()
        let links = mesh.links.map { link in
            ControlResponse.Link(
                peer: link.peer.id.name, zone: link.peer.id.zone, protocol: link.peer.protocolVersion,
                direction: link.peer.weDialled ? "out" : "in", ageSeconds: Self.seconds(link.connectedFor),
                messagesIn: link.messagesIn, messagesOut: link.messagesOut)
        }.sorted { ($0.peer, $0.zone) < ($1.peer, $1.zone) }
        return ControlResponse.Result(
            service: mesh.configuration.name, listen: port.map { "\(mesh.configuration.ip):\($0)" },
            uptimeSeconds: Self.seconds(.now - startedAt), links: links)
    }

    private func peer(of request: ControlRequest) throws -> (String, String) {
        guard let peer = request.peer, !peer.isEmpty else { throw PaddingtonError(.invalidArgument, "\(request.command) needs a peer") }
        return (peer, request.zone ?? "default")
    }

    private func timeout(of request: ControlRequest) throws -> Duration {
        let seconds = request.timeout ?? 5
        guard seconds > 0, seconds <= 86_400 else { throw PaddingtonError(.invalidArgument, "timeout must be more than 0 and at most 86400 seconds") }
        return .nanoseconds(Int64(seconds * 1e9))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
