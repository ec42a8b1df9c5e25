import Foundation
import PaddingtonTestSupport
import Testing

/// `paddington status`, `ping`, `call` and `send` against running `paddington run` processes: alpha
/// (a server), beta (a client of ours) and gamma (a client that plays a peer without agent frames, as a
/// Rust peer is).
@Suite("paddington control verbs")
struct ControlVerbTests {
    func paddington(_ arguments: [String], in folder: URL) async throws -> (Int32, String, String) {
        try await ChildProcess.run("paddington", arguments, in: folder)
    }

    @Test("status, ping, call and send drive a running agent; failures have their documented exit codes")
    func verbs() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        _ = try await paddington(["init", "--name", "alpha", "--url", "http://127.0.0.1:\(port)", "--port", "\(port)", "--config", "alpha.toml"], in: folder)
        for name in ["beta", "gamma"] {
            _ = try await paddington(["invite", name, "--ip", "127.0.0.1", "--config", "alpha.toml", "--out", "\(name)-invite.toml"], in: folder)
            _ = try await paddington(["init", "--name", name, "--port", "0", "--config", "\(name).toml"], in: folder)
            _ = try await paddington(["accept", "\(name)-invite.toml", "--config", "\(name).toml"], in: folder)
        }
        let socket = folder.appendingPathComponent("alpha.sock").path
        let alpha = try ChildProcess("paddington", ["run", "--config", "alpha.toml", "--control", socket], in: folder, withInput: true)
        #expect(await alpha.waitForOutput(#"{"event":"control","path":"\#(socket)"}"#))
        let beta = try ChildProcess("paddington", ["run", "--config", "beta.toml", "--control", folder.appendingPathComponent("beta.sock").path], in: folder, withInput: true)
        let gamma = try ChildProcess("paddington", ["run", "--config", "gamma.toml", "--no-control", "--no-agent-frames"], in: folder, withInput: true)
        #expect(await alpha.waitForOutput(#""event":"connected","peer":"beta""#))
        #expect(await alpha.waitForOutput(#""event":"connected","peer":"gamma""#))
        let control = ["--control", socket]

        // The socket is the user's alone.
        let mode = try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        var (status, out, err) = try await paddington(["status"] + control, in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains("service alpha") && out.contains("listening 127.0.0.1:\(port)"), "\(out)")
        #expect(out.contains("PEER") && out.range(of: #"beta\s+default\s+2\s+in"#, options: .regularExpression) != nil, "\(out)")
        (status, out, err) = try await paddington(["status", "--json"] + control, in: folder)
        #expect(status == 0 && out.hasPrefix(#"{"ok":true,"result":{"links":[{"age_seconds":"#), "\(out)")
        #expect(out.contains(#""peer":"gamma","protocol":2,"zone":"default""#) && out.contains(#""service":"alpha""#), "\(out)")

        (status, out, err) = try await paddington(["ping", "beta", "--count", "3"] + control, in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.split(separator: "\n").filter { $0.hasPrefix("beta@default: ") && $0.hasSuffix(" ms") }.count == 3, "\(out)")

        (status, out, err) = try await paddington(["call", "beta", "paddington.info"] + control, in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains(#""name":"beta""#) && out.contains(#""links":[{"direction":"out","peer":"alpha","protocol":2,"zone":"default"}]"#), "\(out)")

        (status, out, err) = try await paddington(["send", "beta", "hello from the control socket"] + control, in: folder)
        #expect(status == 0, "\(err)")
        #expect(await beta.waitForOutput(#"{"event":"message","from":"alpha","zone":"default","payload":"hello from the control socket"}"#))

        // The documented exit codes.
        (status, _, err) = try await paddington(["call", "beta", "no.such.route"] + control, in: folder)
        #expect(status == 5 && err.contains("unknownRoute"), "\(status) \(err)")
        (status, _, err) = try await paddington(["ping", "nobody"] + control, in: folder)
        #expect(status == 4 && err.contains("peerNotConnected"), "\(status) \(err)")
        (status, _, err) = try await paddington(["ping", "gamma"] + control, in: folder)
        #expect(status == 6 && err.contains("unsupportedByPeer"), "\(status) \(err)")
        (status, _, err) = try await paddington(["ping", "beta", "--timeout", "0.000001"] + control, in: folder)
        #expect(status == 3 && err.contains("deadlineExceeded"), "\(status) \(err)")
        (status, out, _) = try await paddington(["call", "beta", "no.such.route", "--json"] + control, in: folder)
        #expect(status == 5 && out.hasPrefix(#"{"error":{"code":"unknownRoute","#), "\(out)")
        (status, _, err) = try await paddington(["status", "--control", folder.appendingPathComponent("none.sock").path], in: folder)
        #expect(status == 1 && err.contains("no agent answers on the control socket"), "\(status) \(err)")

        // A second agent cannot take a live socket over.
        (status, _, err) = try await paddington(["run", "--config", "beta.toml", "--control", socket], in: folder)
        #expect(status != 0 && err.contains("another agent is serving the control socket"), "\(status) \(err)")

        for process in [gamma, beta, alpha] { process.kill(SIGTERM) }
        for process in [gamma, beta, alpha] { #expect(await process.waitForExit() == 0) }
        // The socket is removed when the agent stops.
        #expect(!FileManager.default.fileExists(atPath: socket))
    }
}
