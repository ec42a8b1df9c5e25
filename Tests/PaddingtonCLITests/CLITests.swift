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
        #expect(out.contains("invitations/invite_portal_cluster_default.toml"))
        let file = folder.appendingPathComponent("invitations/invite_portal_cluster_default.toml")
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
        let rotated = try String(contentsOf: folder.appendingPathComponent("invitations/rotate_portal_cluster_default.toml"), encoding: .utf8)
        let original = try String(contentsOf: file, encoding: .utf8)
        #expect(rotated != original)
        #expect(try await python("check", folder.appendingPathComponent("invitations/rotate_portal_cluster_default.toml").path, in: folder).0 == 0)

        (status, _, _) = try await paddington("remove", "cluster", in: folder)
        #expect(status == 0)
        (_, out, _) = try await paddington("peers", in: folder)
        #expect(out.contains("clients (0)"))
    }

    func read(_ path: String, in folder: URL) throws -> Data {
        try Data(contentsOf: folder.appendingPathComponent(path))
    }

    @Test("each client gets its own invitation file; none is overwritten without --force, and a refusal changes nothing")
    func invitationFiles() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var (status, out, err) = try await paddington("init", "--name", "portal", "--port", "6501", in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains("invitations give the URL ws://127.0.0.1:6501/"))

        // Two workers, two files, each naming its client, both in the Rust layout with mode 0600.
        for worker in ["worker-1", "worker-2"] {
            (status, out, err) = try await paddington("invite", worker, "--ip", "127.0.0.1", in: folder)
            #expect(status == 0, "\(err)")
            #expect(out.contains("invitations/invite_portal_\(worker)_default.toml"))
            let file = folder.appendingPathComponent("invitations/invite_portal_\(worker)_default.toml")
            #expect(try mode(file) == 0o600)
            let (checked, report, problem) = try await python("check", file.path, in: folder)
            #expect(checked == 0, "\(problem)")
            #expect(report.contains("ok portal ws://127.0.0.1:6501/ default mode 600"))
        }
        let first = try read("invitations/invite_portal_worker-1_default.toml", in: folder)
        #expect(first != (try read("invitations/invite_portal_worker-2_default.toml", in: folder)))

        // A third invitation aimed at an existing file is refused, and neither file changes.
        let config = try read("service.toml", in: folder)
        (status, _, err) = try await paddington("invite", "worker-3", "--ip", "127.0.0.1", "--out", "invitations/invite_portal_worker-1_default.toml", in: folder)
        #expect(status != 0)
        #expect(err.contains("invitations/invite_portal_worker-1_default.toml already exists; nothing was changed. Use --force"))
        #expect(try read("service.toml", in: folder) == config)
        #expect(try read("invitations/invite_portal_worker-1_default.toml", in: folder) == first)
        (_, out, _) = try await paddington("peers", in: folder)
        #expect(!out.contains("worker-3"))

        // The default name is refused the same way once it exists (a client removed and invited again).
        (status, _, _) = try await paddington("remove", "worker-1", in: folder)
        #expect(status == 0)
        let removed = try read("service.toml", in: folder)
        (status, _, err) = try await paddington("invite", "worker-1", "--ip", "127.0.0.1", in: folder)
        #expect(status != 0)
        #expect(err.contains("already exists; nothing was changed"))
        #expect(try read("service.toml", in: folder) == removed)

        // With --force the file is replaced, still 0600, and the configuration admits the client.
        (status, _, err) = try await paddington("invite", "worker-1", "--ip", "127.0.0.1", "--force", in: folder)
        #expect(status == 0, "\(err)")
        let replaced = folder.appendingPathComponent("invitations/invite_portal_worker-1_default.toml")
        #expect(try Data(contentsOf: replaced) != first)
        #expect(try mode(replaced) == 0o600)
        #expect(try mode(folder.appendingPathComponent("service.toml")) == 0o600)
        (_, out, _) = try await paddington("peers", in: folder)
        #expect(out.contains("worker-1@default from 127.0.0.1") && out.contains("clients (2)"))

        // rotate: its own file per client; a second rotation is refused without --force and keeps the keys.
        (status, out, err) = try await paddington("rotate", "worker-2", in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains("invitations/rotate_portal_worker-2_default.toml"))
        #expect(try mode(folder.appendingPathComponent("invitations/rotate_portal_worker-2_default.toml")) == 0o600)
        let rotatedConfig = try read("service.toml", in: folder)
        let rotated = try read("invitations/rotate_portal_worker-2_default.toml", in: folder)
        (status, _, err) = try await paddington("rotate", "worker-2", in: folder)
        #expect(status != 0)
        #expect(err.contains("already exists; nothing was changed"))
        #expect(try read("service.toml", in: folder) == rotatedConfig)
        #expect(try read("invitations/rotate_portal_worker-2_default.toml", in: folder) == rotated)
        (status, _, err) = try await paddington("rotate", "worker-2", "--force", in: folder)
        #expect(status == 0, "\(err)")
        #expect(try read("service.toml", in: folder) != rotatedConfig)
    }

    @Test("init without a port makes a client-only service, says so, and invite tells how to give it a port")
    func clientOnly() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for arguments in [["--name", "agent"], ["--name", "agent", "--port", "0", "--force"]] {
            let (status, out, err) = try await ChildProcess.run("paddington", ["init"] + arguments, in: folder)
            #expect(status == 0, "\(err)")
            #expect(out.contains("Created service.toml for service agent, a client only"))
            #expect(out.contains("paddington listen --port N"))
            #expect(!out.contains("127.0.0.1") && !out.contains("ws://") && !out.contains("listens on"))
        }
        #expect(try mode(folder.appendingPathComponent("service.toml")) == 0o600)
        // The file still has the fields the Rust crate requires.
        let text = try String(contentsOf: folder.appendingPathComponent("service.toml"), encoding: .utf8)
        #expect(text == "name = \"agent\"\nurl = \"ws://127.0.0.1:0/\"\nip = \"127.0.0.1\"\nport = 0\nservers = []\nclients = []\n")

        var (status, out, err) = try await paddington("peers", in: folder)
        #expect(out.contains("service agent: a client only"))
        #expect(!out.contains("listens on"))

        // invite is refused with the fix, and changes nothing.
        let before = try read("service.toml", in: folder)
        (status, _, err) = try await paddington("invite", "helper", "--ip", "127.0.0.1", in: folder)
        #expect(status != 0)
        #expect(err.contains("agent is a client only, so an invitation could not say where to dial"))
        #expect(err.contains("paddington listen --port N"))
        #expect(try read("service.toml", in: folder) == before)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("invitations").path))

        // listen gives it a port; then invite works.
        (status, out, err) = try await paddington("listen", "--port", "6502", in: folder)
        #expect(status == 0, "\(err)")
        #expect(out.contains("agent listens on 127.0.0.1:6502 once it has clients; invitations give the URL ws://127.0.0.1:6502/"))
        (status, _, err) = try await paddington("invite", "helper", "--ip", "fd00:1::/64", in: folder)
        #expect(status == 0, "\(err)")
        let (checked, report, problem) = try await python("check", folder.appendingPathComponent("invitations/invite_agent_helper_default.toml").path, in: folder)
        #expect(checked == 0, "\(problem)")
        #expect(report.contains("ok agent ws://127.0.0.1:6502/ default"))
        (_, out, _) = try await paddington("peers", in: folder)
        #expect(out.contains("service agent: listens on 127.0.0.1:6502, URL ws://127.0.0.1:6502/"))
        #expect(out.contains("helper@default from fd00:1::/64"))
    }

    @Test("init and listen refuse a URL derived from the any-address")
    func anyAddress() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var (status, _, err) = try await paddington("init", "--name", "portal", "--ip", "0.0.0.0", "--port", "6501", in: folder)
        #expect(status != 0)
        #expect(err.contains("--ip 0.0.0.0 listens on every address, and no client can dial ws://0.0.0.0:6501/: give --url"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("service.toml").path))
        (status, _, err) = try await paddington("init", "--name", "portal", "--ip", "0.0.0.0", "--url", "http://portal.example.org:6501", in: folder)
        #expect(status == 0, "\(err)")
        var (_, out, _) = try await paddington("peers", in: folder)
        #expect(out.contains("with clients it listens on 0.0.0.0:6501, URL ws://portal.example.org:6501/"))
        let before = try read("service.toml", in: folder)
        (status, _, err) = try await paddington("listen", "--ip", "::", "--port", "6502", in: folder)
        #expect(status != 0)
        #expect(err.contains("--ip :: listens on every address, and no client can dial ws://[::]:6502/: give --url"))
        #expect(try read("service.toml", in: folder) == before)
        (status, _, err) = try await paddington("listen", "--ip", "::", "--port", "6502", "--url", "http://portal.example.org:6502", in: folder)
        #expect(status == 0, "\(err)")
        (_, out, _) = try await paddington("peers", in: folder)
        #expect(out.contains("with clients it listens on [::]:6502, URL ws://portal.example.org:6502/"))
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
        #expect(await beta.waitForOutput(#""engine":"swift-paddington","version":"0.1.0","protocol":2}"#))
        beta.send(line: "nobody hello")
        #expect(await beta.waitForOutput(#""event":"error","detail":"nobody@default is not connected""#))
        beta.send(line: #"alpha {"json": "inside"} / done"#)
        #expect(await alpha.waitForOutput(#"{"event":"message","from":"beta","zone":"default","payload":"{\"json\": \"inside\"} / done"}"#))
        alpha.send(line: "beta@default pong")
        #expect(await beta.waitForOutput(#""payload":"pong""#))
        beta.closeInput()
        #expect(await beta.waitForExit() == 0)
        #expect(await alpha.waitForOutput(#""event":"disconnected","peer":"beta","zone":"default","reason":"peerShutdown""#))
        alpha.kill(SIGTERM)
        #expect(await alpha.waitForExit() == 0)
    }
}
