import Foundation
import PaddingtonTestSupport
import Testing

/// The echo example as two real processes over 127.0.0.1.
@Suite("Echo countdown between processes", .serialized)
struct EchoProcessTests {
    @Test("server and client executables complete a countdown from 200")
    func countdown() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        let server = try ChildProcess("paddington-echo", [
            "server", "--port", "\(port)", "--url", "http://127.0.0.1:\(port)", "--start", "200",
        ], in: folder)
        #expect(await server.waitForOutput("written to invitation.toml"))
        let attributes = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("invitation.toml").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)

        let client = try ChildProcess("paddington-echo", ["client", "--invitation", "invitation.toml"], in: folder)
        #expect(await client.waitForExit() == 0)
        #expect(await server.waitForExit() == 0)
        #expect(server.stdout.contains("echo-server received: Message in zone default from echo-client to echo-server: 200"))
        #expect(server.stdout.contains("echo-server received: Message in zone default from echo-client to echo-server: 1\n"))
        #expect(server.stdout.contains("Blast off!"))
        #expect(client.stdout.contains("echo-client received: Message in zone default from echo-server to echo-client: 0"))
        // One line per message received, each side: 200...1 on the server (plus the echo of 0 if it
        // arrives before the server's link closes), 200...0 on the client.
        #expect((200...201).contains(server.stdout.components(separatedBy: "echo-server received:").count - 1))
        #expect(client.stdout.components(separatedBy: "echo-client received:").count - 1 == 201)
    }

    @Test("protocol 2 between two peers that support it, protocol 1 when either speaks only the Rust format; the countdown completes in all four",
          arguments: [("auto", "auto", 2), ("auto", "1", 1), ("1", "auto", 1), ("1", "1", 1)])
    func protocolMatrix(server serverProtocol: String, client clientProtocol: String, expected: Int) async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        let server = try ChildProcess("paddington-echo", [
            "server", "--port", "\(port)", "--url", "http://127.0.0.1:\(port)", "--start", "50", "--protocol", serverProtocol,
        ], in: folder)
        #expect(await server.waitForOutput("written to invitation.toml"))
        let client = try ChildProcess("paddington-echo", [
            "client", "--invitation", "invitation.toml", "--protocol", clientProtocol,
        ], in: folder)
        #expect(await client.waitForExit() == 0, "\(client.outputTails)")
        #expect(await server.waitForExit() == 0, "\(server.outputTails)")
        #expect(server.stdout.contains("Blast off!"))
        #expect(client.stdout.contains("echo-client received: Message in zone default from echo-server to echo-client: 0"))
        // Both sides log the link's protocol when it connects.
        #expect(server.stderr.contains("protocol=\(expected)"), "\(server.stderr.suffix(800))")
        #expect(client.stderr.contains("protocol=\(expected)"), "\(client.stderr.suffix(800))")
        #expect(!server.stderr.contains("protocol=\(3 - expected)"))
    }

    @Test("the client reconnects by itself after the server process is killed and restarted")
    func reconnect() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        let serverArguments = ["server", "--port", "\(port)", "--url", "http://127.0.0.1:\(port)"]
        // A long countdown, killed mid-way.
        let first = try ChildProcess("paddington-echo", serverArguments + ["--start", "1000000"], in: folder)
        #expect(await first.waitForOutput("written to invitation.toml"))
        let client = try ChildProcess("paddington-echo", ["client", "--invitation", "invitation.toml"], in: folder)
        #expect(await first.waitForOutput("to echo-server: 999990"))
        first.kill(SIGKILL)
        _ = await first.waitForExit()

        // Same port, same invitation (the server reuses it); a short countdown this time.
        let second = try ChildProcess("paddington-echo", serverArguments + ["--start", "200"], in: folder)
        #expect(await second.waitForOutput("Reusing the invitation"))
        #expect(await second.waitForExit(timeout: .seconds(60)) == 0)
        #expect(second.stdout.contains("Blast off!"))
        #expect(await client.waitForExit() == 0)
        #expect(client.stderr.contains("peer disconnected"))
        #expect(client.stdout.contains("to echo-client: 0"))
    }
}
