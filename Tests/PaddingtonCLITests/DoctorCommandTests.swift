import Foundation
import PaddingtonTestSupport
import Testing

/// `paddington doctor` as a child process: its lines, its JSON and its exit codes.
@Suite("paddington doctor")
struct DoctorCommandTests {
    func paddington(_ arguments: String..., in folder: URL) async throws -> (Int32, String, String) {
        try await ChildProcess.run("paddington", arguments, in: folder)
    }

    @Test("a readable configuration fails with its fix and exit 1; fixed, exit 0; --json prints one object per check")
    func doctor() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        var (status, out, err) = try await paddington("init", "--name", "portal", "--port", "\(port)", in: folder)
        #expect(status == 0, "\(err)")
        (status, _, err) = try await paddington("invite", "agent", "--ip", "127.0.0.1", in: folder)
        #expect(status == 0, "\(err)")
        let config = folder.appendingPathComponent("service.toml").path
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: config)

        (status, out, err) = try await paddington("doctor", in: folder)
        #expect(status == 1, "\(out)\(err)")
        #expect(out.contains("✘ service.toml is readable by others (mode 0644): run chmod 600 service.toml\n"))
        #expect(out.contains("✔ service.toml parses: service portal, listening on 127.0.0.1:\(port), 1 client(s), 0 server(s)\n"))
        #expect(out.contains("✔ invitations/invite_portal_agent_default.toml is the current invitation of a client of portal\n"))
        #expect(out.contains("✔ listen: 127.0.0.1:\(port) is free (bound and released it)\n"))
        #expect(out.contains("- TLS: not configured"))
        let keyHex = try #require(try String(contentsOfFile: config, encoding: .utf8).split(separator: "\"").first { $0.count == 64 })
        #expect(!out.contains(keyHex) && !err.contains(keyHex))

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: config)
        (status, out, err) = try await paddington("doctor", "--json", in: folder)
        #expect(status == 0, "\(out)\(err)")
        let lines = out.split(separator: "\n")
        #expect(lines.count >= 8)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect(object["check"] is String && object["message"] is String)
            #expect(["pass", "warning", "info"].contains(object["status"] as? String ?? ""), "\(line)")
        }
    }

    @Test("a client whose server is down fails on reachability; bad arguments exit 64; --help gives the exit codes")
    func unreachableAndUsage() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        let invitation = """
            name = "portal"
            url = "ws://127.0.0.1:\(port)/"
            zone = "default"

            [inner_key]
            data = "\(String(repeating: "ab", count: 32))"

            [outer_key]
            data = "\(String(repeating: "cd", count: 32))"

            """
        try invitation.write(to: folder.appendingPathComponent("portal.toml"), atomically: true, encoding: .utf8)
        var (status, out, err) = try await paddington("init", "--name", "agent", "--config", "agent.toml", in: folder)
        #expect(status == 0, "\(err)")
        (status, _, err) = try await paddington("accept", "portal.toml", "--config", "agent.toml", in: folder)
        #expect(status == 0, "\(err)")

        (status, out, err) = try await paddington("doctor", "--config", "agent.toml", "--timeout", "2", in: folder)
        #expect(status == 1, "\(out)\(err)")
        #expect(out.contains("✘ server portal@default: 127.0.0.1:\(port) refuses connections (nothing listens there)"))

        (status, out, _) = try await paddington("doctor", "--config", "agent.toml", "--no-dial", in: folder)
        #expect(status == 0)
        #expect(out.contains("- 1 server(s) not dialled (--no-dial)\n"))

        (status, _, err) = try await paddington("doctor", "--timeout", "0", in: folder)
        #expect(status == 64)
        #expect(err.contains("--timeout must be more than 0"))

        (status, out, _) = try await paddington("doctor", "--config", "missing.toml", in: folder)
        #expect(status == 1)
        #expect(out.contains("✘ missing.toml does not exist"))

        (status, out, _) = try await paddington("doctor", "--help", in: folder)
        #expect(status == 0)
        // The help wraps its lines: compared with the spaces and line breaks collapsed.
        let help = out.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("Exit codes: 0 no check failed"))
        #expect(help.contains("the server counts it as a use of this service's invitation"))
    }
}
