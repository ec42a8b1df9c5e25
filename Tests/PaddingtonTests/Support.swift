import Logging
import PaddingtonTestSupport
import NIOConcurrencyHelpers
import Testing
@testable import Paddington

/// Test logger: quiet unless PADDINGTON_TEST_LOG is set to a level (e.g. `debug`).
func testLogger(_ label: String) -> Logger {
    quietLogger(label)
}

/// Collects a mesh's events in the background and lets tests wait for one.
final class EventRecorder: Sendable {
    private let events = NIOLockedValueBox<[MeshEvent]>([])
    private let task: Task<Void, Never>

    init(_ mesh: Mesh) {
        let events = self.events
        // Subscribe now, before the mesh runs, so that no event is missed.
        let stream = mesh.events
        task = Task {
            for await event in stream { events.withLockedValue { $0.append(event) } }
        }
    }

    var all: [MeshEvent] { events.withLockedValue { $0 } }

    /// Waits (bounded) for an event matching `predicate` and returns it.
    @discardableResult
    func wait(
        for description: String,
        timeout: Duration = .seconds(15),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ predicate: @escaping @Sendable (MeshEvent) -> Bool
    ) async throws -> MeshEvent {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = events.withLockedValue({ $0.first(where: predicate) }) { return found }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(description); saw: \(all)", sourceLocation: sourceLocation)
        throw PaddingtonError(.timeout, "no \(description)")
    }

    func count(_ predicate: (MeshEvent) -> Bool) -> Int {
        events.withLockedValue { $0.filter(predicate).count }
    }

    /// Waits (bounded) until at least `target` events match `predicate`; returns how many match then,
    /// for the caller's own expectation.
    @discardableResult
    func wait(untilCount target: Int, timeout: Duration = .seconds(15), _ predicate: (MeshEvent) -> Bool) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while count(predicate) < target, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return count(predicate)
    }
}

/// A running mesh with its events, stopped by `stop()`.
struct RunningMesh {
    let mesh: Mesh
    let recorder: EventRecorder
    let task: Task<Void, any Error>

    init(
        _ configuration: ServiceConfiguration, options: MeshConfiguration = fastOptions(),
        inboundInterceptors: [any InboundInterceptor] = [], outboundInterceptors: [any OutboundInterceptor] = [],
        requestMiddleware: [any RequestMiddleware] = [], logger: Logger? = nil, handlers: (Mesh) -> Void = { _ in }
    ) {
        mesh = Mesh(
            configuration: configuration, options: options, inboundInterceptors: inboundInterceptors,
            outboundInterceptors: outboundInterceptors, requestMiddleware: requestMiddleware,
            logger: logger ?? testLogger(configuration.name))
        handlers(mesh)
        recorder = EventRecorder(mesh)
        let mesh = self.mesh
        task = Task { try await mesh.run() }
    }

    func stop() async {
        mesh.shutdown()
        _ = try? await task.value
    }
}

func fastOptions(handshakeTimeout: Duration = .seconds(5), idleTimeout: Duration = .seconds(300)) -> MeshConfiguration {
    MeshConfiguration(
        handshakeTimeout: handshakeTimeout,
        idleTimeout: idleTimeout,
        reconnect: ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500)))
}

/// A listening server that answers every message with `ack:<payload>`, with one client, `client`,
/// allowed from `allowance`.
func startAckServer(allowance: String = "127.0.0.1", options: MeshConfiguration = fastOptions()) async throws -> (server: RunningMesh, invitation: Invitation, port: Int) {
    var config = try serverConfiguration()
    let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: allowance))
    let server = RunningMesh(config, options: options) { mesh in
        mesh.onMessage { message, context in try await context.reply("ack:\(message.payload)") }
    }
    return (server, invitation, try await server.mesh.listeningPort())
}

/// A good client of an ack server completes a handshake and a round trip.
func expectServes(port: Int, invitation: Invitation, payload: String = "ping", sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let inbox = Inbox()
    let client = RunningMesh(try clientConfiguration(invitation: invitation, port: port)) { mesh in
        mesh.onMessage { message, _ in inbox.append(message) }
    }
    try await client.recorder.wait(for: "good client connected", sourceLocation: sourceLocation) { $0.isConnected }
    try await client.mesh.send(payload, to: "server")
    try await inbox.wait(count: 1, sourceLocation: sourceLocation)
    #expect(inbox.all.first?.payload == "ack:\(payload)", sourceLocation: sourceLocation)
    await client.stop()
}

/// A server configuration on 127.0.0.1, port 0.
func serverConfiguration(name: String = "server") throws -> ServiceConfiguration {
    try ServiceConfiguration(name: name, url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
}

/// A client configuration dialling `invitation` at `port`.
func clientConfiguration(name: String = "client", invitation: Invitation, port: Int) throws -> ServiceConfiguration {
    var config = try ServiceConfiguration(name: name, url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
    var invitation = invitation
    invitation.url = "ws://127.0.0.1:\(port)/"
    try config.addServer(invitation)
    return config
}

extension MeshEvent {
    var isConnected: Bool { if case .peerConnected = self { return true } else { return false } }
    var isDisconnected: Bool { if case .peerDisconnected = self { return true } else { return false } }
    var failureCode: PaddingtonError.Code? {
        if case .handshakeFailed(_, _, let error) = self { return error.code }
        return nil
    }
}

/// Collects messages a handler receives.
final class Inbox: Sendable {
    private let messages = NIOLockedValueBox<[Message]>([])
    func append(_ message: Message) { messages.withLockedValue { $0.append(message) } }
    var all: [Message] { messages.withLockedValue { $0 } }

    /// Waits until `count` messages arrived, as long as they keep coming: fails only when none arrived
    /// for `stall` (or after `limit` in all). For tests whose sender may be far ahead of a busy receiver.
    func waitWhileArriving(count: Int, stall: Duration = .seconds(10), limit: Duration = .seconds(120),
                           sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let end = ContinuousClock.now + limit
        var lastCount = all.count
        var lastProgress = ContinuousClock.now
        while ContinuousClock.now < end {
            let current = all.count
            if current >= count { return }
            if current != lastCount {
                lastCount = current
                lastProgress = ContinuousClock.now
            } else if ContinuousClock.now - lastProgress > stall {
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("waited for \(count) messages, got \(all.count) (none for \(stall))", sourceLocation: sourceLocation)
        throw PaddingtonError(.timeout, "messages")
    }

    func wait(count: Int, timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if all.count >= count { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for \(count) messages, got \(all.count)", sourceLocation: sourceLocation)
        throw PaddingtonError(.timeout, "messages")
    }
}

extension EstablishedSession {
    /// The protocol 1 session keys the handshake produced (the vectors fix them). Records an issue, and
    /// returns keys that match nothing, when the handshake produced another codec.
    var keys: EnvelopeKeys {
        guard let codec = codec as? ProtocolOneCodec else {
            Issue.record("expected a protocol 1 codec, got \(type(of: codec))")
            return EnvelopeKeys.generate()
        }
        return codec.keys
    }
}
