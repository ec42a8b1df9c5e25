import Foundation
import PaddingtonTestSupport
import Testing

/// Reload, rotation and SIGHUP through the CLI, against running `paddington run` processes.
@Suite("paddington reload and rotate")
struct ReloadProcessTests {
    func paddington(_ arguments: [String], in folder: URL) async throws -> (Int32, String, String) {
        try await ChildProcess.run("paddington", arguments, in: folder)
    }

    /// alpha, a server on a free port, with `clients` invited, each with its own configuration that
    /// accepted its invitation (`<name>.toml`, `<name>-invite.toml`).
    func setUp(clients: [String], in folder: URL) async throws {
        let port = try freePort()
        _ = try await paddington(["init", "--name", "alpha", "--url", "http://127.0.0.1:\(port)", "--port", "\(port)", "--config", "alpha.toml"], in: folder)
        for name in clients { try await invite(name, in: folder) }
    }

    func invite(_ name: String, in folder: URL) async throws {
        var (status, _, err) = try await paddington(["invite", name, "--ip", "127.0.0.1", "--config", "alpha.toml", "--out", "\(name)-invite.toml"], in: folder)
        #expect(status == 0, "\(err)")
        (status, _, err) = try await paddington(["init", "--name", name, "--config", "\(name).toml"], in: folder)
        #expect(status == 0, "\(err)")
        (status, _, err) = try await paddington(["accept", "\(name)-invite.toml", "--config", "\(name).toml"], in: folder)
        #expect(status == 0, "\(err)")
    }

    func run(_ name: String, in folder: URL) throws -> ChildProcess {
        try ChildProcess("paddington", ["run", "--config", "\(name).toml", "--control", folder.appendingPathComponent("\(name).sock").path],
                         in: folder, withInput: true)
    }

    @Test("rotation without downtime: rotate and reload on the server, accept and reload --now on the client; the old invitation is useless afterwards")
    func rotation() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await setUp(clients: ["beta"], in: folder)
        try FileManager.default.copyItem(at: folder.appendingPathComponent("beta.toml"), to: folder.appendingPathComponent("old.toml"))
        let alpha = try run("alpha", in: folder)
        let beta = try run("beta", in: folder)
        #expect(await alpha.waitForOutput(#""event":"connected","peer":"beta""#))
        let alphaControl = ["--control", folder.appendingPathComponent("alpha.sock").path]
        let betaControl = ["--control", folder.appendingPathComponent("beta.sock").path]

        var (status, out, err) = try await paddington(["rotate", "beta", "--config", "alpha.toml", "--out", "beta-new.toml"], in: folder)
        #expect(status == 0 && out.contains("The old keys work until"), "\(out) \(err)")
        (status, out, err) = try await paddington(["reload"] + alphaControl, in: folder)
        #expect(status == 0 && out == "reloaded: clients ~beta@default\n", "\(out) \(err)")
        // The live link was not cut: a message still goes through.
        (status, _, err) = try await paddington(["send", "beta", "after the rotation"] + alphaControl, in: folder)
        #expect(status == 0, "\(err)")
        #expect(await beta.waitForOutput(#""payload":"after the rotation""#))
        #expect(!alpha.stdout.contains(#""event":"disconnected""#))

        (status, out, err) = try await paddington(["accept", "beta-new.toml", "--config", "beta.toml"], in: folder)
        #expect(status == 0 && out.contains("Replaced server alpha@default"), "\(out) \(err)")
        (status, out, err) = try await paddington(["reload", "--now"] + betaControl, in: folder)
        #expect(status == 0 && out == "reloaded: servers ~alpha@default\n", "\(out) \(err)")
        // beta reconnects with the new keys at once, which retires the old ones; alpha saves that.
        #expect(await alpha.waitForOutput(#"{"event":"configuration_changed","change":"previous keys of beta@default retired"}"#))
        let saved = try String(contentsOf: folder.appendingPathComponent("alpha.toml"), encoding: .utf8)
        #expect(!saved.contains("previous_inner_key"), "\(saved)")
        #expect(alpha.stdout.components(separatedBy: #""event":"connected","peer":"beta""#).count - 1 == 2)

        // A copy of the old invitation is now refused.
        let old = try ChildProcess("paddington", ["run", "--config", "old.toml", "--no-control"], in: folder, withInput: true)
        #expect(await alpha.waitForOutput(#""event":"handshake_failed""#))
        #expect(alpha.stdout.contains(#""reason":"authenticationFailed""#), "\(alpha.stdout)")
        for process in [old, beta, alpha] { process.kill(SIGTERM) }
        for process in [old, beta, alpha] { #expect(await process.waitForExit() == 0) }
    }

    @Test("SIGHUP admits a client invited while the agent runs; an invalid file is refused and the running configuration kept; a removed client is disconnected")
    func hangup() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await setUp(clients: ["beta"], in: folder)
        let alpha = try run("alpha", in: folder)
        let beta = try run("beta", in: folder)
        #expect(await alpha.waitForOutput(#""event":"connected","peer":"beta""#))

        try await invite("gamma", in: folder)
        let gamma = try run("gamma", in: folder)
        #expect(await gamma.waitForOutput(#""event":"handshake_failed""#))  // not admitted yet
        alpha.kill(SIGHUP)
        #expect(await alpha.waitForOutput(#"{"event":"reloaded","changes":"clients +gamma@default"}"#))
        #expect(await alpha.waitForOutput(#""event":"connected","peer":"gamma""#))

        let file = folder.appendingPathComponent("alpha.toml")
        let good = try Data(contentsOf: file)
        try Data("name = \"alpha\"\nport = \"not a number\"\n".utf8).write(to: file)
        alpha.kill(SIGHUP)
        #expect(await alpha.waitForOutput(#""detail":"reload refused, the running configuration is kept: "#))
        let alphaControl = ["--control", folder.appendingPathComponent("alpha.sock").path]
        var (status, out, err) = try await paddington(["status"] + alphaControl, in: folder)
        #expect(status == 0 && out.contains("beta") && out.contains("gamma"), "\(out) \(err)")
        (status, _, err) = try await paddington(["reload"] + alphaControl, in: folder)
        #expect(status == 1 && err.contains("invalidConfiguration"), "\(status) \(err)")

        try good.write(to: file)
        (status, _, err) = try await paddington(["remove", "beta", "--config", "alpha.toml"], in: folder)
        #expect(status == 0, "\(err)")
        (status, out, err) = try await paddington(["reload"] + alphaControl, in: folder)
        #expect(status == 0 && out == "reloaded: clients -beta@default\n", "\(out) \(err)")
        #expect(await alpha.waitForOutput(#""event":"disconnected","peer":"beta""#))
        #expect(await beta.waitForOutput(#""event":"disconnected","peer":"alpha""#))
        for process in [gamma, beta, alpha] { process.kill(SIGTERM) }
        for process in [gamma, beta, alpha] { #expect(await process.waitForExit() == 0) }
    }
}
