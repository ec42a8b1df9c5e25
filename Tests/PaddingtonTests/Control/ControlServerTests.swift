import Foundation
import NIOCore
import NIOPosix
import PaddingtonControl
import PaddingtonTestSupport
import Testing
@testable import Paddington

/// The control socket in process: a ControlServer on the client mesh of an agent pair, whose server
/// has a slow route.
@Suite("Control socket")
struct ControlServerTests {

    struct Fixture {
        let pair: AgentPair
        let control: ControlServer
        let run: Task<Void, any Error>
        let path: String
        let folder: URL
        let probe: HandlerProbe
        let serverInbox: Inbox

        func stop() async {
            run.cancel()
            _ = try? await run.value
            await pair.stop()
            try? FileManager.default.removeItem(at: folder)
        }
    }

    func start() async throws -> Fixture {
        let probe = HandlerProbe()
        let inbox = Inbox()
        let pair = try await AgentPair.start { mesh in
            mesh.onRequest("slow", probe.waitForever)
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        let folder = try temporaryFolder()
        let path = folder.appendingPathComponent("agent.sock").path
        let control = ControlServer(mesh: pair.client.mesh, configuration: .init(path: path, maxLineBytes: 4096), logger: testLogger("control"))
        let run = Task { try await control.run() }
        try await control.waitUntilListening()
        return Fixture(pair: pair, control: control, run: run, path: path, folder: folder, probe: probe, serverInbox: inbox)
    }

    @Test("garbage and unknown commands get a failure response and the connection goes on")
    func garbage() async throws {
        let fixture = try await start()
        try await ControlClient.withConnection(path: fixture.path) { client in
            var response = try await client.sendRaw(Array("not json\n".utf8))
            #expect(!response.ok && response.error?.code == "invalidJSON")
            response = try await client.sendRaw(Array("{\"command\":\"launch\"}\n".utf8))
            #expect(!response.ok && response.error?.code == "invalidArgument" && response.error?.message.contains("unknown command 'launch'") == true)
            response = try await client.send(ControlRequest(command: "ping"))
            #expect(!response.ok && response.error?.message == "ping needs a peer")
            response = try await client.send(ControlRequest(command: "call", peer: "server"))
            #expect(!response.ok && response.error?.message == "call needs a route")
            response = try await client.send(ControlRequest(command: "ping", peer: "server", timeout: -1))
            #expect(!response.ok && response.error?.code == "invalidArgument")
            response = try await client.sendRaw([0xFF, 0xFE, 0x0A])
            #expect(!response.ok && response.error?.code == "invalidJSON")
            response = try await client.send(ControlRequest(command: "status"))
            #expect(response.ok && response.result?.service == "client" && response.result?.links?.map(\.peer) == ["server"])
        }
        await fixture.stop()
    }

    @Test("a line over the limit is refused and the connection closed; the server goes on")
    func longLine() async throws {
        let fixture = try await start()
        try await ControlClient.withConnection(path: fixture.path) { client in
            // The answer may be lost to the reset of a socket closed with the rest of the line unread.
            do {
                let response = try await client.sendRaw([UInt8](repeating: UInt8(ascii: "x"), count: 5000))
                #expect(!response.ok && response.error?.code == "payloadTooLarge")
            } catch let error as PaddingtonError {
                #expect(error.code == .connectionClosed)
            }
            await #expect(throws: PaddingtonError.self) { try await client.send(ControlRequest(command: "status")) }
        }
        let status = try await ControlClient.withConnection(path: fixture.path) { try await $0.send(ControlRequest(command: "status")) }
        #expect(status.ok)
        // A command before the long line, in the same write, is still answered.
        try await ControlClient.withConnection(path: fixture.path) { client in
            let bytes = Array((#"{"command":"status"}"# + "\n").utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 5000) + [0x0A]
            let first = try await client.sendRaw(bytes)
            #expect(first.ok && first.result?.service == "client")
        }
        await fixture.stop()
    }

    @Test("commands sent ahead are all answered, in order; past the limit the server reads no further until it answers")
    func pipelined() async throws {
        let fixture = try await start()
        try await ControlClient.withConnection(path: fixture.path) { client in
            let line = Array((#"{"command":"ping","peer":"server"}"# + "\n").utf8)
            // 40 at once: every one answered.
            var response = try await client.sendRaw(Array([[UInt8]](repeating: line, count: 40).joined()))
            #expect(response.ok && response.result?.rttMilliseconds != nil)
            for _ in 1..<40 {
                response = try await client.sendRaw([])
                #expect(response.ok)
            }
        }
        try await ControlClient.withConnection(path: fixture.path) { client in
            // 300 at once, far past the 64 the server reads ahead: it stops reading until answers go out,
            // and every one is answered, in order.
            let lines = (0..<300).map { #"{"command":"send","peer":"server","payload":"n\#($0)"}"# + "\n" }.joined()
            var answers = [try await client.sendRaw(Array(lines.utf8))]
            for _ in 1..<300 { answers.append(try await client.sendRaw([])) }
            #expect(answers.count == 300 && answers.allSatisfy(\.ok))
        }
        try await fixture.serverInbox.wait(count: 300)
        #expect(fixture.serverInbox.all.map(\.payload) == (0..<300).map { "n\($0)" })
        await fixture.stop()
    }

    @Test("a client that disconnects during a call cancels it, and the peer's handler with it")
    func disconnectMidCall() async throws {
        let fixture = try await start()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(unixDomainSocketPath: fixture.path).get()
        let line = #"{"command":"call","peer":"server","route":"slow","timeout":60}"# + "\n"
        try await channel.writeAndFlush(ByteBuffer(string: line))
        try await fixture.probe.waitUntil("the handler to start") { $0.started == 1 }
        try await channel.close()
        try await fixture.probe.waitUntil("the handler's cancellation") { $0.cancelled == 1 }
        // The agent still serves.
        let status = try await ControlClient.withConnection(path: fixture.path) { try await $0.send(ControlRequest(command: "status")) }
        #expect(status.ok)
        await fixture.stop()
    }

    @Test("the socket is mode 0600, it refuses a path that is not a socket, and it is removed at the end")
    func socketFile() async throws {
        let fixture = try await start()
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.path)[.posixPermissions] as? Int == 0o600)
        // The private directory it was bound in is gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.folder.path).filter { $0.hasPrefix(".pd") }.isEmpty)
        // A second server on the same path refuses a live socket and leaves it alone.
        let rival = ControlServer(mesh: fixture.pair.client.mesh, configuration: .init(path: fixture.path), logger: testLogger("control"))
        await #expect(throws: PaddingtonError.self) { try await rival.run() }
        let stillServes = try await ControlClient.withConnection(path: fixture.path) { try await $0.send(ControlRequest(command: "status")) }
        #expect(stillServes.ok)
        let file = fixture.folder.appendingPathComponent("plain-file").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: file))
        let other = ControlServer(mesh: fixture.pair.client.mesh, configuration: .init(path: file), logger: testLogger("control"))
        await #expect(throws: PaddingtonError.self) { try await other.run() }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me")
        fixture.run.cancel()
        _ = try? await fixture.run.value
        #expect(!FileManager.default.fileExists(atPath: fixture.path))
        await fixture.stop()
    }
}
