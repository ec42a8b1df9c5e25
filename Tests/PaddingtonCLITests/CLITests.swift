import Foundation
import PaddingtonTestSupport
import Testing

/// The `paddington` command end to end, on real files, checked against an independent
/// implementation of the Rust invitation format.
@Suite("paddington command")
struct CLITests {
    static let python = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rust_invitation.py").path

    func paddington(_ arguments: String..., in folder: URL) async throws -> (Int32, String, String) {
        try await ChildProcess.run("paddington", arguments, in: folder)
    }

    func python(_ arguments: String..., in folder: URL) async throws -> (Int32, String, String) {
        try await ChildProcess.run("/usr/bin/env", ["python3", Self.python] + arguments, in: folder)
    }

    func mode(_ path: URL) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path.path)[.posixPermissions] as? Int
    }

    @Test("init, invite: the invitation is in the Rust layout byte for byte, mode 0600")
    func invite() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var (status, out, err) = try await paddington("init", "--name", "portal", "--url", "http://localhost:6501", "--port", "6501", in: folder)
        #expect(status == 0, "\(err)")
        #expect(try mode(folder.appendingPathComponent("service.toml")) == 0o600)

        (status, out, err) = try await paddington("invite", "cluster", "--ip", "10.0.0.0/24", in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains("invitations/invite_portal_default.toml"))
        let file = folder.appendingPathComponent("invitations/invite_portal_default.toml")
        #expect(try mode(file) == 0o600)
        let (checked, report, problem) = try await python("check", file.path, in: folder)
        #expect(checked == 0, "\(problem)")
        #expect(report.contains("ok portal ws://localhost:6501/ default mode 600"))

        // init refuses to overwrite.
        (status, _, err) = try await paddington("init", "--name", "other", in: folder)
        #expect(status != 0)
        #expect(err.contains("already exists"))

        // peers lists, never keys.
        (status, out, _) = try await paddington("peers", in: folder)
        #expect(status == 0)
        #expect(out.contains("cluster@default from 10.0.0.0/24"))
        let config = try String(contentsOf: folder.appendingPathComponent("service.toml"), encoding: .utf8)
        let keyHex = try #require(config.split(separator: "\"").first { $0.count == 64 })
        #expect(!out.contains(keyHex))

        // rotate issues different keys.
        (status, _, err) = try await paddington("rotate", "cluster", in: folder)
        #expect(status == 0, "\(err)")
        let rotated = try String(contentsOf: folder.appendingPathComponent("invitations/rotate_portal_default.toml"), encoding: .utf8)
        let original = try String(contentsOf: file, encoding: .utf8)
        #expect(rotated != original)
        #expect(try await python("check", folder.appendingPathComponent("invitations/rotate_portal_default.toml").path, in: folder).0 == 0)

        (status, _, _) = try await paddington("remove", "cluster", in: folder)
        #expect(status == 0)
        (_, out, _) = try await paddington("peers", in: folder)
        #expect(out.contains("clients (0)"))
    }

    @Test("accept takes an invitation written by the independent implementation")
    func accept() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try await paddington("init", "--name", "agent", in: folder)
        #expect(try await python("write", "rust.toml", "portal", "https://portal.example.org:8443/ws", "prod", in: folder).0 == 0)
        let (status, out, err) = try await paddington("accept", "rust.toml", in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains("portal@prod at wss://portal.example.org:8443/ws"))
        let (_, peers, _) = try await paddington("peers", in: folder)
        #expect(peers.contains("portal@prod at wss://portal.example.org:8443/ws"))
    }

    @Test("a bad invitation is refused with the field named, and the configuration is untouched")
    func badInvitation() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try await paddington("init", "--name", "agent", in: folder)
        let before = try Data(contentsOf: folder.appendingPathComponent("service.toml"))
        try "name = \"portal\"\nurl = \"ws://x:1/\"\nzone = \"default\"\ninner_key = \"abcd\"\n"
            .write(to: folder.appendingPathComponent("bad.toml"), atomically: true, encoding: .utf8)
        let (status, _, err) = try await paddington("accept", "bad.toml", in: folder)
        #expect(status != 0)
        #expect(err.contains("bad.toml: field 'inner_key' must be a table"))
        #expect(try Data(contentsOf: folder.appendingPathComponent("service.toml")) == before)
    }

    @Test("paddington run: a mesh netcat between two processes")
    func run() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        _ = try await paddington("init", "--name", "alpha", "--url", "http://127.0.0.1:\(port)", "--port", "\(port)", "--config", "alpha.toml", in: folder)
        _ = try await paddington("invite", "beta", "--ip", "127.0.0.1", "--config", "alpha.toml", "--out", "beta-invite.toml", in: folder)
        _ = try await paddington("init", "--name", "beta", "--port", "0", "--config", "beta.toml", in: folder)
        _ = try await paddington("accept", "beta-invite.toml", "--config", "beta.toml", in: folder)

        let alpha = try ChildProcess("paddington", ["run", "--config", "alpha.toml"], in: folder, withInput: true)
        #expect(await alpha.waitForOutput(#""event":"listening""#))
        let beta = try ChildProcess("paddington", ["run", "--config", "beta.toml", "--exit-on-eof"], in: folder, withInput: true)
        #expect(await beta.waitForOutput(#"{"event":"connected","peer":"alpha","zone":"default""#))
        beta.send(line: "nobody hello")
        #expect(await beta.waitForOutput(#""event":"error","detail":"nobody@default is not connected""#))
        beta.send(line: #"alpha {"json": "inside"} / done"#)
        #expect(await alpha.waitForOutput(#"{"event":"message","from":"beta","zone":"default","payload":"{\"json\": \"inside\"} / done"}"#))
        alpha.send(line: "beta@default pong")
        #expect(await beta.waitForOutput(#""payload":"pong""#))
        beta.closeInput()
        #expect(await beta.waitForExit() == 0)
        #expect(await alpha.waitForOutput(#""event":"disconnected","peer":"beta""#))
        alpha.kill(SIGTERM)
        #expect(await alpha.waitForExit() == 0)
    }
}
