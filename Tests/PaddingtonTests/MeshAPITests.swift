import InMemoryLogging
import Logging
import NIOConcurrencyHelpers
import PaddingtonCrypto
import ServiceLifecycle
import Testing
@testable import Paddington

/// What a new user embedding the mesh relies on: handlers, events, waits, reasons, groups, logs.
@Suite("Mesh API")
struct MeshAPITests {
    static func pair(
        serverOptions: MeshConfiguration = fastOptions(), serverLogger: Logger? = nil,
        inbound: [any InboundInterceptor] = [], outbound: [any OutboundInterceptor] = [],
        clientProtocol: ProtocolPolicy = .auto, clientOptions: MeshConfiguration = fastOptions(),
        serverHandlers: (Mesh) -> Void = { _ in }
    ) async throws -> (server: RunningMesh, client: RunningMesh, invitation: Invitation, port: Int) {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = RunningMesh(config, options: serverOptions, inboundInterceptors: inbound, logger: serverLogger, handlers: serverHandlers)
        let port = try await server.mesh.listeningPort()
        var clientConfig = try clientConfiguration(invitation: invitation, port: port)
        clientConfig.protocolPolicy = clientProtocol
        let client = RunningMesh(clientConfig, options: clientOptions, outboundInterceptors: outbound)
        try await client.mesh.waitUntilConnected("server", timeout: .seconds(15))
        try await server.mesh.waitUntilConnected("client", timeout: .seconds(15))
        return (server, client, invitation, port)
    }

    // MARK: Handlers

    @Test("registering again for the same sender and zone replaces the handler; removing it leaves the next match")
    func replaceAndRemoveHandlers() async throws {
        let inbox = Inbox()
        let (server, client, _, _) = try await Self.pair { mesh in
            mesh.onMessage { message, _ in inbox.append(Message(sender: "any", recipient: "", zone: "", payload: message.payload)) }
            mesh.onMessage(from: "client") { message, _ in inbox.append(Message(sender: "first", recipient: "", zone: "", payload: message.payload)) }
            mesh.onMessage(from: "client") { message, _ in inbox.append(Message(sender: "second", recipient: "", zone: "", payload: message.payload)) }
        }
        try await client.mesh.send("a", to: "server")
        try await inbox.wait(count: 1)
        #expect(server.mesh.removeHandler(from: "client"))
        #expect(!server.mesh.removeHandler(from: "client"))
        try await client.mesh.send("b", to: "server")
        try await inbox.wait(count: 2)
        #expect(inbox.all.map { "\($0.sender):\($0.payload)" } == ["second:a", "any:b"])
        await client.stop()
        await server.stop()
    }

    @Test("a message no handler matches is counted and reported once per peer, at notice level")
    func unhandled() async throws {
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "server") { _ in logs }
        logger.logLevel = .debug
        let (server, client, _, _) = try await Self.pair(serverLogger: logger)
        for n in 0..<3 { try await client.mesh.send("lost \(n)", to: "server") }
        let deadline = ContinuousClock.now + .seconds(10)
        while server.mesh.statistics.unhandledMessages < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(server.mesh.statistics.unhandledMessages == 3)
        let notices = logs.entries.filter { $0.level == .notice && "\($0.message)".contains("no handler") }
        #expect(notices.count == 1)
        await client.stop()
        await server.stop()
    }

    // MARK: Events and waits

    @Test("every subscriber sees every event; a stream taken after the mesh stopped ends at once")
    func severalSubscribers() async throws {
        var config = try serverConfiguration()
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = Mesh(configuration: config, options: fastOptions(), logger: testLogger("server"))
        let first = server.events, second = server.events
        let run = Task { try await server.run() }
        let port = try await server.listeningPort()
        let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await server.waitUntilConnected("client", timeout: .seconds(15))
        #expect(server.isConnected("client"))
        #expect(!server.isConnected("client", zone: "other"))
        await client.stop()
        server.shutdown()
        try await run.value
        func kinds(_ stream: AsyncStream<MeshEvent>) async -> [String] {
            var kinds: [String] = []
            for await event in stream {
                switch event {
                case .listening: kinds.append("listening")
                case .peerConnected: kinds.append("connected")
                case .peerDisconnected: kinds.append("disconnected")
                case .handshakeFailed: kinds.append("failed")
                }
            }
            return kinds
        }
        let seenByFirst = await kinds(first), seenBySecond = await kinds(second)
        #expect(seenByFirst == ["listening", "connected", "disconnected"])
        #expect(seenBySecond == seenByFirst)
        #expect(await kinds(server.events).isEmpty)
    }

    @Test("waitUntilConnected times out with a timeout error, and fails with shutdown when the mesh stops")
    func waitFailures() async throws {
        let server = RunningMesh(try serverConfiguration())
        await #expect { try await server.mesh.waitUntilConnected("nobody", timeout: .milliseconds(200)) } throws: {
            ($0 as? PaddingtonError)?.code == .timeout
        }
        let waiting = Task { try await server.mesh.waitUntilConnected("nobody", timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(100))
        await server.stop()
        await #expect { try await waiting.value } throws: { ($0 as? PaddingtonError)?.code == .shutdown }
    }

    // MARK: Why a link ended

    @Test("a peer that shuts down, a link cut without a Close, and a link we close are told apart")
    func disconnectReasons() async throws {
        let (server, client, invitation, port) = try await Self.pair()
        // The peer shuts down gracefully: WebSocket status 1001.
        await client.stop()
        let event = try await server.recorder.wait(for: "disconnect") { $0.isDisconnected }
        if case .peerDisconnected(_, let reason) = event { #expect(reason.code == .peerShutdown, "\(reason)") }

        // The TCP connection ends without a WebSocket Close.
        var socket = try await RawWebSocket.open(port: port, keys: invitation.keys)
        _ = try #require(try await socket.handshake(name: "client"))
        try await server.mesh.waitUntilConnected("client", timeout: .seconds(15))
        await socket.raw.close()
        try await server.recorder.wait(untilCount: 2, \.isDisconnected)
        let reasons = server.recorder.all.compactMap { event -> PaddingtonError.Code? in
            if case .peerDisconnected(_, let reason) = event { return reason.code }
            return nil
        }
        #expect(reasons == [.peerShutdown, .connectionLost])

        // This side closes: the peer sees a normal close.
        let other = RunningMesh(try clientConfiguration(invitation: invitation, port: port))
        try await other.mesh.waitUntilConnected("server", timeout: .seconds(15))
        try await server.mesh.waitUntilConnected("client", timeout: .seconds(15))
        server.mesh.disconnect("client")
        let closed = try await other.recorder.wait(for: "closed by the server") { $0.isDisconnected }
        if case .peerDisconnected(_, let reason) = closed { #expect(reason.code == .connectionClosed, "\(reason)") }
        await other.stop()
        await server.stop()
    }

    // MARK: Lifecycle and logs

    @Test("in a ServiceGroup, a mesh stopped with shutdown() stays until the group shuts down, which then ends cleanly")
    func shutdownInServiceGroup() async throws {
        var config = try serverConfiguration()
        try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let mesh = Mesh(configuration: config, options: fastOptions(), logger: testLogger("grouped"))
        let group = ServiceGroup(configuration: .init(services: [.init(service: mesh)], logger: testLogger("group")))
        let running = Task { try await group.run() }
        _ = try await mesh.listeningPort()
        mesh.shutdown()
        try await Task.sleep(for: .milliseconds(500))
        #expect(!Task.isCancelled)
        // The group is still running: a service that returned early would have failed it by now.
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("handlers cancelled at the shutdown timeout are noted at debug level, never as errors")
    func cancelledHandlersAreNotErrors() async throws {
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "server") { _ in logs }
        logger.logLevel = .debug
        var options = fastOptions()
        options.shutdownTimeout = .milliseconds(300)
        let started = Gate()
        let (server, client, _, _) = try await Self.pair(serverOptions: options, serverLogger: logger) { mesh in
            mesh.onMessage { _, _ in
                started.open()
                try await Task.sleep(for: .seconds(60))
            }
        }
        try await client.mesh.send("never done", to: "server")
        await started.wait()
        await server.stop()
        await client.stop()
        #expect(logs.entries.filter { $0.level >= .error }.isEmpty, "\(logs.entries.filter { $0.level >= .error })")
        #expect(logs.entries.contains { $0.level == .debug && "\($0.message)".contains("cancelled") })
    }

    @Test("a stranger refused before the upgrade is logged at debug level, not as a warning")
    func strangersAreDebug() async throws {
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "server") { _ in logs }
        logger.logLevel = .trace
        var config = try serverConfiguration()
        _ = try config.addClient("client", allowing: try IPAllowance(parsing: "10.9.9.9"))
        let server = RunningMesh(config, logger: logger)
        let port = try await server.mesh.listeningPort()
        let raw = try await RawConnection(port: port)
        try await raw.send(RawConnection.upgradeRequest(keys: EnvelopeKeys.generate()))
        #expect(await raw.waitForClose(timeout: .seconds(5)))
        try await server.recorder.wait(for: "refusal") { $0.failureCode == .ipNotAllowed }
        #expect(logs.entries.filter { $0.level >= .notice }.allSatisfy { !"\($0.message)".contains("refused") })
        #expect(logs.entries.contains { $0.level == .debug && "\($0.message)".contains("refused") })
        await server.stop()
    }

    // MARK: Interceptors

    struct Shout: InboundInterceptor {
        func intercept(_ message: Message, context: MessageContext, next: (Message, MessageContext) async throws -> Void) async throws {
            guard message.payload != "drop me" else { return }
            var message = message
            message.payload = message.payload.uppercased()
            try await next(message, context)
        }
    }

    struct Sign: OutboundInterceptor {
        func intercept(_ message: OutboundMessage, next: (OutboundMessage) async throws -> Void) async throws {
            if message.payload == "unsendable" { throw PaddingtonError(.invalidArgument, "refused by the interceptor") }
            if message.payload == "drop me" {
                try await next(message)
                return
            }
            var message = message
            message.payload += " (signed)"
            try await next(message)
        }
    }

    @Test("inbound interceptors change or drop messages before the handler; outbound ones before the codec")
    func interceptors() async throws {
        let inbox = Inbox()
        let (server, client, _, _) = try await Self.pair(inbound: [Shout()], outbound: [Sign()]) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        try await client.mesh.send("hello", to: "server")
        try await client.mesh.send("drop me", to: "server")
        await #expect { try await client.mesh.send("unsendable", to: "server") } throws: {
            ($0 as? PaddingtonError)?.message == "refused by the interceptor"
        }
        try await client.mesh.send("bye", to: "server")
        try await inbox.wait(count: 2)
        try await Task.sleep(for: .milliseconds(100))
        #expect(inbox.all.map(\.payload) == ["HELLO (SIGNED)", "BYE (SIGNED)"])
        await client.stop()
        await server.stop()
    }

    @Test("byte payloads over protocol 1: UTF-8 bytes reach a peer without agent frames (as Rust), other bytes are refused for it")
    func bytesOverProtocolOne() async throws {
        let inbox = Inbox()
        var rustLike = fastOptions()
        rustLike.identity.announcesAgentFrames = false
        let (server, client, _, _) = try await Self.pair(clientProtocol: .off, clientOptions: rustLike) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        try await client.mesh.send(bytes: Array("grüße".utf8), to: "server")
        await #expect { try await client.mesh.send(bytes: [0xff, 0x00, 0xfe], to: "server") } throws: {
            ($0 as? PaddingtonError)?.code == .invalidArgument
        }
        try await inbox.wait(count: 1)
        #expect(inbox.all.first?.bytes == Array("grüße".utf8))
        #expect(inbox.all.first?.payload == "grüße")
        #expect(server.mesh.connectedPeers.first?.protocolVersion == 1)
        await client.stop()
        await server.stop()
    }

    @Test("byte payloads over protocol 1 between two of our peers: any bytes travel, inside agent frames")
    func anyBytesOverProtocolOneWithAgentFrames() async throws {
        let inbox = Inbox()
        let (server, client, _, _) = try await Self.pair(clientProtocol: .off) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
        try await client.mesh.send(bytes: [0xff, 0x00, 0xfe], to: "server")
        try await client.mesh.send("KEEPALIVE", to: "server")
        try await inbox.wait(count: 2)
        #expect(inbox.all.map(\.bytes) == [[0xff, 0x00, 0xfe], Array("KEEPALIVE".utf8)])
        #expect(server.mesh.connectedPeers.first?.protocolVersion == 1)
        await client.stop()
        await server.stop()
    }
}
