import ArgumentParser
import Foundation
import Paddington
import PaddingtonControl

/// How the verbs find a running agent's control socket.
struct ControlOptions: ParsableArguments {
    @Option(help: "The agent's control socket. Default: the one `paddington run --config` opens for the service in --config.",
            completion: .file())
    var control: String?

    @Option(help: "The service configuration file, to find the default control socket.", completion: .file(extensions: ["toml"]))
    var config = "service.toml"

    @Flag(help: "Print the agent's JSON response.")
    var json = false

    func path() async throws -> String {
        if let control { return control }
        let name = try await reporting { try ServiceConfiguration.load(from: config).name }
        return ControlPath.default(for: name)
    }
}

/// `PEER[@ZONE]`.
struct PeerTarget: ExpressibleByArgument {
    var name: String
    var zone: String

    init?(argument: String) {
        let parts = argument.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, !first.isEmpty, parts.count == 1 || !parts[1].isEmpty else { return nil }
        name = String(first)
        zone = parts.count > 1 ? String(parts[1]) : "default"
    }
}

/// The exit codes of the verbs: 0 success, 1 anything else (no agent on the socket, a bad argument),
/// 3 deadline exceeded, 4 not connected (or the link was lost), 5 a remote error (including an unknown
/// route, a bad request, an overloaded peer), 6 the peer does not support it (a Rust peer).
enum ControlExit {
    static func code(for error: String) -> Int32 {
        switch error {
        case "deadlineExceeded": return 3
        case "peerNotConnected", "linkLost": return 4
        case "remoteError", "unknownRoute", "badRequest", "overloaded", "malformedAgentFrame", "unknownActor": return 5
        case "unsupportedByPeer": return 6
        default: return 1
        }
    }
}

/// Sends `requests` in order on one connection; `each` gets every success. A failure is printed (as
/// JSON with `--json`) and ends the command with its exit code.
func drive(_ options: ControlOptions, _ requests: [ControlRequest], each: (ControlResponse.Result, ControlResponse) -> Void) async throws {
    let path = try await options.path()
    let failure: ControlResponse?
    do {
        failure = try await ControlClient.withConnection(path: path) { client in
            for request in requests {
                let response = try await client.send(request)
                guard response.ok, let result = response.result else { return response }
                each(result, response)
            }
            return nil
        }
    } catch let error as PaddingtonError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(1)
    }
    guard let failure else { return }
    let error = failure.error ?? ControlResponse.Failure(code: "remoteError", message: "the agent answered without a result")
    if options.json {
        print(String(decoding: controlJSON(failure), as: UTF8.self))
    } else {
        FileHandle.standardError.write(Data("error: \(error.code): \(error.message)\n".utf8))
    }
    throw ExitCode(ControlExit.code(for: error.code))
}

func controlJSON(_ response: ControlResponse) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return (try? encoder.encode(response)) ?? Data()
}

private let controlDiscussion = """
    Talks to a running `paddington run` through its control socket. Exit codes: 0 success, 1 other \
    failures (no agent on the socket), 3 deadline exceeded, 4 not connected, 5 remote error (unknown \
    route, bad request, handler failed), 6 the peer does not support it (a Rust peer).
    """

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running agent: service, listen address, uptime and links.", discussion: controlDiscussion)

    @OptionGroup var control: ControlOptions

    func run() async throws {
        try await drive(control, [ControlRequest(command: "status")]) { result, response in
            if control.json {
                print(String(decoding: controlJSON(response), as: UTF8.self))
                return
            }
            print("service \(result.service ?? "?")  uptime \(seconds(result.uptimeSeconds ?? 0))  listening \(result.listen ?? "(client only)")")
            let links = result.links ?? []
            guard !links.isEmpty else {
                print("no links")
                return
            }
            let rows = [["PEER", "ZONE", "PROTOCOL", "DIRECTION", "AGE", "IN", "OUT"]] + links.map {
                [$0.peer, $0.zone, "\($0.protocol)", $0.direction, seconds($0.ageSeconds), "\($0.messagesIn)", "\($0.messagesOut)"]
            }
            let widths = (0..<7).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        }
    }

    private func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ping a peer through a running agent (the built-in route every agent of ours answers).", discussion: controlDiscussion)

    @Argument(help: "PEER[@ZONE]") var peer: PeerTarget
    @Option(help: "Pings to send.") var count = 1
    @Option(help: "Seconds to wait for each answer.") var timeout: Double = 5
    @OptionGroup var control: ControlOptions

    func validate() throws {
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be 1 to 10000") }
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds") }
    }

    func run() async throws {
        let request = ControlRequest(command: "ping", peer: peer.name, zone: peer.zone, timeout: timeout)
        try await drive(control, Array(repeating: request, count: count)) { result, response in
            if control.json {
                print(String(decoding: controlJSON(response), as: UTF8.self))
            } else {
                print(String(format: "%@@%@: %.3f ms", peer.name, peer.zone, result.rttMilliseconds ?? 0))
            }
        }
    }
}

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call a route on a peer through a running agent and print the reply body.", discussion: controlDiscussion)

    @Argument(help: "PEER[@ZONE]") var peer: PeerTarget
    @Argument(help: "The route, e.g. paddington.info.") var route: String
    @Argument(help: "The request body (usually JSON). Default: empty.") var body: String = ""
    @Option(help: "Seconds to wait for the reply.") var timeout: Double = 5
    @OptionGroup var control: ControlOptions

    func validate() throws {
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds") }
    }

    func run() async throws {
        let request = ControlRequest(command: "call", peer: peer.name, zone: peer.zone, route: route, body: body, timeout: timeout)
        try await drive(control, [request]) { result, response in
            print(control.json ? String(decoding: controlJSON(response), as: UTF8.self) : (result.body ?? ""))
        }
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a message to a peer through a running agent.", discussion: controlDiscussion)

    @Argument(help: "PEER[@ZONE]") var peer: PeerTarget
    @Argument(help: "The payload.") var payload: String
    @OptionGroup var control: ControlOptions

    func run() async throws {
        try await drive(control, [ControlRequest(command: "send", peer: peer.name, zone: peer.zone, payload: payload)]) { _, response in
            if control.json { print(String(decoding: controlJSON(response), as: UTF8.self)) }
        }
    }
}

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a running agent re-read its configuration file (as SIGHUP does), without a restart.",
        discussion: """
            Added clients may connect; removed clients and servers are disconnected; added servers are \
            dialled; changed keys apply to new handshakes, and live links stay up. With --now, links to \
            servers whose entry changed (after `paddington accept` of a new invitation) are dialled again \
            at once with the new keys. An invalid file is refused with the error, and the running \
            configuration is kept.

            """ + controlDiscussion)

    @Flag(help: "Re-dial servers whose entry changed at once, instead of at their next reconnection.")
    var now = false
    @OptionGroup var control: ControlOptions

    func run() async throws {
        try await drive(control, [ControlRequest(command: "reload", now: now)]) { result, response in
            print(control.json ? String(decoding: controlJSON(response), as: UTF8.self) : "reloaded: \(result.changes ?? "no change")")
        }
    }
}
