import NIOPosix
import Testing
@testable import Paddington

/// Each refusal over real sockets: the right reason on the server, and the server still serves a
/// good client afterwards.
@Suite("Refusals over 127.0.0.1")
struct RefusalTests {
    /// An ack server with one client, `client`, allowed from `allowance`.
    func startServer(allowance: String = "127.0.0.1", timeout: Duration = .seconds(5)) async throws -> (RunningMesh, Invitation, Int) {
        try await startAckServer(allowance: allowance, options: fastOptions(handshakeTimeout: timeout))
    }

    @Test("wrong keys: authentication fails")
    func wrongKeys() async throws {
        let (server, invitation, port) = try await startServer()
        var forged = invitation
        forged.keys = .generate()
        let intruder = RunningMesh(try clientConfiguration(invitation: forged, port: port))
        let event = try await server.recorder.wait(for: "authentication failure") { $0.failureCode == .authenticationFailed }
        if case .handshakeFailed(let address, let peer, _) = event {
            #expect(address == "127.0.0.1")
            #expect(peer == nil)
        }
        try await intruder.recorder.wait(for: "client sees the failure") { $0.failureCode != nil }
        #expect(intruder.recorder.count(\.isConnected) == 0)
        await intruder.stop()
        try await expectServes(port: port, invitation: invitation)
        await server.stop()
    }

    @Test("right keys, wrong client name")
    func wrongName() async throws {
        let (server, invitation, port) = try await startServer()
        let intruder = RunningMesh(try clientConfiguration(name: "intruder", invitation: invitation, port: port))
        let event = try await server.recorder.wait(for: "name mismatch") { $0.failureCode == .peerNameMismatch }
        if case .handshakeFailed(_, let peer, let error) = event {
            #expect(peer?.name == "client")
            #expect(error.message.contains("intruder"))
        }
        await intruder.stop()
        try await expectServes(port: port, invitation: invitation)
        await server.stop()
    }

    @Test("right keys, wrong zone")
    func wrongZone() async throws {
        let (server, invitation, port) = try await startServer()
        var other = invitation
        other.zone = "elsewhere"
        let intruder = RunningMesh(try clientConfiguration(invitation: other, port: port))
        try await server.recorder.wait(for: "zone mismatch") { $0.failureCode == .peerZoneMismatch }
        await intruder.stop()
        try await expectServes(port: port, invitation: invitation)
        await server.stop()
    }

    @Test("source address outside the allowed range is refused before the upgrade (HTTP 403)")
    func wrongAddress() async throws {
        let (server, invitation, port) = try await startServer(allowance: "127.0.0.1/32")
        // A mesh dialling from 127.0.0.2.
        var options = fastOptions()
        options.sourceAddress = "127.0.0.2"
        let outsider = RunningMesh(try clientConfiguration(invitation: invitation, port: port), options: options)
        let event = try await server.recorder.wait(for: "address refusal") { $0.failureCode == .ipNotAllowed }
        if case .handshakeFailed(let address, _, _) = event { #expect(address == "127.0.0.2") }
        try await outsider.recorder.wait(for: "dialler sees the refusal") { $0.failureCode == .ipNotAllowed }
        await outsider.stop()

        // The raw view: no 101, a 403.
        let raw = try await RawConnection(port: port, source: "127.0.0.2")
        try await raw.send(RawConnection.upgradeRequest(keys: invitation.keys))
        #expect(await raw.waitForClose(timeout: .seconds(5)))
        #expect(raw.receivedText.hasPrefix("HTTP/1.1 403"))
        #expect(!raw.receivedText.contains("101"))
        try await expectServes(port: port, invitation: invitation)
        await server.stop()
    }

    @Test("a client that upgrades and never sends frame 1 times out")
    func silentClient() async throws {
        let (server, invitation, port) = try await startServer(timeout: .seconds(2))
        let raw = try await RawConnection(port: port)
        try await raw.send(RawConnection.upgradeRequest(keys: invitation.keys))
        #expect(await raw.waitForText("101", timeout: .seconds(5)))
        try await server.recorder.wait(for: "timeout") { $0.failureCode == .timeout }
        #expect(await raw.waitForClose(timeout: .seconds(5)))
        try await expectServes(port: port, invitation: invitation)
        await server.stop()
    }

    @Test("a second link for a connected name@zone waits as standby and takes over when the first leaves")
    func standby() async throws {
        let (server, invitation, port) = try await startServer()
        let first = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await first.recorder.wait(for: "first connected") { $0.isConnected }
        let second = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await Task.sleep(for: .milliseconds(1500))
        #expect(second.recorder.count(\.isConnected) == 0)
        #expect(server.recorder.count(\.isConnected) == 1)
        await first.stop()
        try await second.recorder.wait(for: "standby promoted") { $0.isConnected }
        // The server reports its side once its last handshake frame is written, which may be after the
        // client has reported its own.
        try await server.recorder.wait(untilCount: 2, timeout: .seconds(5), \.isConnected)
        #expect(server.recorder.count(\.isConnected) == 2)
        await second.stop()
        await server.stop()
    }

    @Test("shutdown ends a dialler's backoff at once")
    func shutdownDuringBackoff() async throws {
        // A server address where nothing listens: bind a port, then free it.
        let probe = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(probe.localAddress?.port)
        try await probe.close()
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        var options = fastOptions()
        options.reconnect = ReconnectPolicy(initialDelay: .seconds(60), maximumDelay: .seconds(60))
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port), options: options)
        try await client.recorder.wait(for: "a failed dial") { $0.failureCode != nil }
        let start = ContinuousClock.now
        await client.stop()
        #expect(ContinuousClock.now - start < .seconds(5), "shutdown waited for the 60 s backoff")
    }

    @Test("send to a peer that is not connected throws peerNotConnected")
    func notConnected() async throws {
        let (server, _, _) = try await startServer()
        await #expect { try await server.mesh.send("x", to: "nobody") } throws: {
            ($0 as? PaddingtonError)?.code == .peerNotConnected
        }
        await server.stop()
    }
}
