import NIOConcurrencyHelpers
import Testing
@testable import Paddington

@Suite("Delivery guarantees")
struct DeliveryTests {
    @Test("links closed mid-stream by the receiver: every send that returned arrived, in order; the others threw")
    func nothingAcknowledgedIsLost() async throws {
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let inbox = Inbox()
        let server = RunningMesh(serverConfig) { mesh in mesh.onMessage { message, _ in inbox.append(message) } }
        let port = try await server.mesh.listeningPort()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await client.recorder.wait(for: "connected") { $0.isConnected }

        var acknowledged: [String] = []
        var failures = 0
        let target = 3000
        var n = 0
        let deadline = ContinuousClock.now + .seconds(60)
        while acknowledged.count < target, ContinuousClock.now < deadline {
            n += 1
            // Three times during the stream the server closes the link; the client re-dials.
            if [500, 1500, 2500].contains(acknowledged.count), server.mesh.connectedPeers.count == 1 {
                server.mesh.disconnect("client")
            }
            do {
                try await client.mesh.send("m\(n)", to: "server")
                acknowledged.append("m\(n)")
            } catch let error as PaddingtonError {
                #expect([.peerNotConnected, .connectionClosed].contains(error.code), "\(error)")
                failures += 1
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        #expect(acknowledged.count == target)
        #expect(server.recorder.count(\.isDisconnected) >= 3)
        #expect(failures > 0)
        try await inbox.wait(count: target)
        try await Task.sleep(for: .milliseconds(200))
        #expect(inbox.all.map(\.payload) == acknowledged)
        await client.stop()
        await server.stop()
    }

    @Test("concurrent delivery runs handlers in parallel up to the per-peer limit")
    func concurrentDelivery() async throws {
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let gauge = Gauge()
        let inbox = Inbox()
        var options = fastOptions()
        options.delivery = .concurrent(maxPerPeer: 4)
        let server = RunningMesh(serverConfig, options: options) { mesh in
            mesh.onMessage { message, _ in
                gauge.enter()
                try await Task.sleep(for: .milliseconds(50))
                gauge.leave()
                inbox.append(message)
            }
        }
        let port = try await server.mesh.listeningPort()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await client.recorder.wait(for: "connected") { $0.isConnected }
        for n in 0..<16 { try await client.mesh.send("\(n)", to: "server") }
        try await inbox.wait(count: 16)
        #expect(gauge.peak == 4)
        await client.stop()
        await server.stop()
    }

    @Test("ordered delivery (the default) never overlaps handlers of one peer")
    func orderedDelivery() async throws {
        var serverConfig = try serverConfiguration()
        let invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let gauge = Gauge()
        let inbox = Inbox()
        let server = RunningMesh(serverConfig) { mesh in
            mesh.onMessage { message, _ in
                gauge.enter()
                try await Task.sleep(for: .milliseconds(5))
                gauge.leave()
                inbox.append(message)
            }
        }
        let port = try await server.mesh.listeningPort()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await client.recorder.wait(for: "connected") { $0.isConnected }
        for n in 0..<20 { try await client.mesh.send("\(n)", to: "server") }
        try await inbox.wait(count: 20)
        #expect(gauge.peak == 1)
        #expect(inbox.all.map(\.payload) == (0..<20).map(String.init))
        await client.stop()
        await server.stop()
    }

    @Test("two meshes with the same names in one process do not see each other's handlers or links")
    func isolation() async throws {
        var first = try serverConfiguration()
        let firstInvitation = try first.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        var second = try serverConfiguration()
        let secondInvitation = try second.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let firstInbox = Inbox(), secondInbox = Inbox()
        let a = RunningMesh(first) { $0.onMessage { message, _ in firstInbox.append(message) } }
        let b = RunningMesh(second) { $0.onMessage { message, _ in secondInbox.append(message) } }
        let clientA = RunningMesh(try clientConfiguration(invitation: firstInvitation, port: try await a.mesh.listeningPort()))
        let clientB = RunningMesh(try clientConfiguration(invitation: secondInvitation, port: try await b.mesh.listeningPort()))
        try await clientA.recorder.wait(for: "a") { $0.isConnected }
        try await clientB.recorder.wait(for: "b") { $0.isConnected }
        try await clientA.mesh.send("to a", to: "server")
        try await clientB.mesh.send("to b", to: "server")
        try await firstInbox.wait(count: 1)
        try await secondInbox.wait(count: 1)
        #expect(firstInbox.all.map(\.payload) == ["to a"])
        #expect(secondInbox.all.map(\.payload) == ["to b"])
        for mesh in [clientA, clientB, a, b] { await mesh.stop() }
    }
}

/// Counts handlers running at once.
final class Gauge: Sendable {
    private let state = NIOLockedValueBox((current: 0, peak: 0))
    func enter() { state.withLockedValue { $0.current += 1; $0.peak = max($0.peak, $0.current) } }
    func leave() { state.withLockedValue { $0.current -= 1 } }
    var peak: Int { state.withLockedValue { $0.peak } }
}
