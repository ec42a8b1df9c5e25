import Distributed
import NIOConcurrencyHelpers
import PaddingtonActors
import Testing
@testable import Paddington

struct Job: Codable, Sendable, Equatable { var id: Int; var input: String }
struct JobResult: Codable, Sendable, Equatable { var id: Int; var output: String; var worker: String }
struct JobRefused: Error, Codable, Equatable { var id: Int; var reason: String }
struct Opaque: Error, CustomStringConvertible { var description: String { "an opaque failure" } }

distributed actor Worker {
    typealias ActorSystem = MeshActorSystem
    let probe: HandlerProbe

    init(actorSystem: MeshActorSystem, probe: HandlerProbe) {
        self.actorSystem = actorSystem
        self.probe = probe
    }

    distributed func run(_ job: Job) -> JobResult {
        JobResult(id: job.id, output: job.input.uppercased(), worker: actorSystem.mesh.configuration.name)
    }

    distributed func count() -> Int { 42 }
    distributed func reset() {}
    distributed func refuse(_ job: Job) throws -> JobResult { throw JobRefused(id: job.id, reason: "busy") }
    distributed func fail() throws { throw Opaque() }
    distributed func echo<Value: Codable & Sendable>(_ value: Value) -> Value { value }
    distributed func sum(_ a: Int, _ b: Int, scale: Double) -> Double { Double(a + b) * scale }

    distributed func slow() async throws -> Int {
        try await probe.waitForever(Request(route: "", bytes: []), RequestContext(
            mesh: actorSystem.mesh, peer: PeerID(name: "x"), route: "", deadline: .now, logger: testLogger("w"))).bytes.count
    }
}

@Suite("Distributed actors over the mesh")
struct DistributedActorTests {
    struct Fixture {
        let pair: AgentPair
        let serverSystem: MeshActorSystem
        let clientSystem: MeshActorSystem
        let local: Worker
        let remote: Worker
        let probe: HandlerProbe
    }

    func start(_ policy: ProtocolPolicy = .auto) async throws -> Fixture {
        let pair = try await AgentPair.start(policy)
        let serverSystem = MeshActorSystem(mesh: pair.server.mesh)
        let clientSystem = MeshActorSystem(mesh: pair.client.mesh, defaultTimeout: .seconds(10))
        let probe = HandlerProbe()
        let local = serverSystem.makeWellKnown("worker") { Worker(actorSystem: $0, probe: probe) }
        let remote = try Worker.resolve(id: clientSystem.id(of: "worker", on: "server"), using: clientSystem)
        return Fixture(pair: pair, serverSystem: serverSystem, clientSystem: clientSystem, local: local, remote: remote, probe: probe)
    }

    @Test("calls return values, void and several arguments, over both protocols", arguments: [ProtocolPolicy.auto, .off])
    func calls(policy: ProtocolPolicy) async throws {
        let fixture = try await start(policy)
        #expect(try await fixture.remote.run(Job(id: 1, input: "abc")) == JobResult(id: 1, output: "ABC", worker: "server"))
        #expect(try await fixture.remote.count() == 42)
        try await fixture.remote.reset()
        #expect(try await fixture.remote.sum(2, 3, scale: 1.5) == 7.5)
        // A well-known actor resolved locally is the actor itself.
        let again = try Worker.resolve(id: fixture.serverSystem.id(of: "worker", on: "server"), using: fixture.serverSystem)
        #expect(again === fixture.local)
        _ = fixture.local
        await fixture.pair.stop()
    }

    @Test("generic distributed methods work: the substitutions travel")
    func generics() async throws {
        let fixture = try await start()
        #expect(try await fixture.remote.echo("text") == "text")
        #expect(try await fixture.remote.echo([1, 2, 3]) == [1, 2, 3])
        #expect(try await fixture.remote.echo(Job(id: 7, input: "x")) == Job(id: 7, input: "x"))
        await fixture.pair.stop()
    }

    @Test("a Codable error arrives as itself; any other as remoteError with its type and description")
    func errors() async throws {
        let fixture = try await start()
        await #expect(throws: JobRefused(id: 3, reason: "busy")) { try await fixture.remote.refuse(Job(id: 3, input: "")) }
        let opaque = await expectCode(.remoteError) { try await fixture.remote.fail() }
        #expect(opaque?.message.contains("Opaque") == true && opaque?.message.contains("an opaque failure") == true, "\(String(describing: opaque))")
        await fixture.pair.stop()
    }

    @Test("an unknown actor, a peer that is not connected and a deadline each fail with their own code")
    func failures() async throws {
        let fixture = try await start()
        let ghost = try Worker.resolve(id: fixture.clientSystem.id(of: "ghost", on: "server"), using: fixture.clientSystem)
        await expectCode(.unknownActor) { try await ghost.count() }
        let elsewhere = try Worker.resolve(id: fixture.clientSystem.id(of: "worker", on: "nowhere"), using: fixture.clientSystem)
        await expectCode(.peerNotConnected) { try await elsewhere.count() }
        // The deadline reaches the actor's method and cancels it.
        let call = Task { try await fixture.clientSystem.withCallTimeout(.seconds(2)) { try await fixture.remote.slow() } }
        try await fixture.probe.waitUntil("the method to start") { $0.started == 1 }
        await expectCode(.deadlineExceeded) { try await call.value }
        try await fixture.probe.waitUntil("the method's cancellation") { $0.cancelled == 1 }
        await fixture.pair.stop()
    }

    @Test("calls to an actor on a peer that drops fail at once with linkLost")
    func peerDrops() async throws {
        let fixture = try await start()
        let calls = (0..<2).map { _ in Task { try await fixture.remote.slow() } }
        try await fixture.probe.waitUntil("two calls running") { $0.started == 2 }
        let start = ContinuousClock.now
        fixture.pair.server.mesh.disconnect("client")
        for call in calls { await expectCode(.linkLost) { try await call.value } }
        #expect(ContinuousClock.now - start < .seconds(5))
        await fixture.pair.stop()
    }

    @Test("a well-known name given again goes to the new actor, which stays reachable after the old one is gone")
    func wellKnownReplaced() async throws {
        let fixture = try await start()
        var first: Worker? = fixture.serverSystem.makeWellKnown("spare") { Worker(actorSystem: $0, probe: HandlerProbe()) }
        let second = fixture.serverSystem.makeWellKnown("spare") { Worker(actorSystem: $0, probe: HandlerProbe()) }
        _ = first
        first = nil
        let remote = try Worker.resolve(id: fixture.clientSystem.id(of: "spare", on: "server"), using: fixture.clientSystem)
        #expect(try await remote.count() == 42)
        _ = second
        await fixture.pair.stop()
    }

    @Test("a target that is not a method of the actor's type is refused, not run")
    func foreignTarget() async throws {
        let fixture = try await start()
        // The method name of another type, with a valid call around it.
        let body = ActorWireForTests.call(actor: "worker", target: "$s4Fake6HolderC3runyyYaKFTE")
        let error = await expectCode(.badRequest) {
            try await fixture.pair.client.mesh.request(bytes: body, to: "server", route: MeshActorSystem.route, timeout: .seconds(5))
        }
        #expect(error?.message.contains("is not a method of worker's type") == true, "\(String(describing: error))")
        #expect(try await fixture.remote.count() == 42)
        await fixture.pair.stop()
    }

    @Test("a malformed remote call is a bad request; the actor system goes on")
    func malformedCall() async throws {
        let fixture = try await start()
        for body in [[UInt8](), [0, 5, 65], [0, 6, 119, 111, 114, 107, 101, 114, 0, 1, 0xFF]] {
            await expectCode(.badRequest) {
                try await fixture.pair.client.mesh.request(bytes: body, to: "server", route: MeshActorSystem.route, timeout: .seconds(5))
            }
        }
        #expect(try await fixture.remote.count() == 42)
        await fixture.pair.stop()
    }
}

/// A remote call in its binary form, built by hand (the layout of PaddingtonActors' ActorWire).
enum ActorWireForTests {
    static func call(actor: String, target: String, generics: [String] = [], arguments: [[UInt8]] = []) -> [UInt8] {
        func sixteen(_ text: String) -> [UInt8] { let bytes = Array(text.utf8); return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes }
        var out = sixteen(actor) + sixteen(target) + [UInt8(generics.count)]
        for generic in generics { out += sixteen(generic) }
        out.append(UInt8(arguments.count))
        for argument in arguments {
            let count = UInt32(argument.count)
            out += [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)] + argument
        }
        return out
    }
}
