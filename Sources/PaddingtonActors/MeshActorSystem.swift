import Distributed
import Foundation
import NIOConcurrencyHelpers
import Paddington

/// A `DistributedActorSystem` over a ``Paddington/Mesh``: a distributed actor's methods called from
/// another agent travel as requests on the route `paddington.actors`, with the deadlines, cancellation
/// and errors of request/reply.
///
/// ```swift
/// distributed actor Worker {
///     typealias ActorSystem = MeshActorSystem
///     distributed func run(_ job: Job) async throws -> Result { … }
/// }
///
/// // On the worker: a well-known actor other agents can find by name.
/// let system = MeshActorSystem(mesh: mesh)
/// let worker = system.makeWellKnown("worker") { Worker(actorSystem: $0) }
///
/// // On the coordinator:
/// let remote = try Worker.resolve(id: system.id(of: "worker", on: "worker-1"), using: system)
/// let result = try await system.withCallTimeout(.seconds(5)) { try await remote.run(job) }
/// ```
///
/// What a call can end with, besides its result: the error the actor threw, as itself when its type is
/// `Codable` and known here, otherwise `PaddingtonError.Code.remoteError` naming its type and
/// description; `PaddingtonError.Code.unknownActor` when the service hosts no actor by that name; and
/// every outcome of ``Paddington/Mesh/request(bytes:to:zone:route:headers:timeout:)`` (deadline, not
/// connected, link lost, cancelled, a peer without agent frames).
///
/// Generic distributed methods work: the substitutions travel as mangled type names, and a type the
/// callee's process does not know is refused with `PaddingtonError.Code.badRequest`.
public final class MeshActorSystem: DistributedActorSystem, Sendable {
    public typealias ActorID = MeshActorID
    public typealias InvocationEncoder = MeshInvocationEncoder
    public typealias InvocationDecoder = MeshInvocationDecoder
    public typealias ResultHandler = MeshResultHandler
    public typealias SerializationRequirement = any Codable

    /// The route remote calls travel on.
    public static let route = "paddington.actors"

    /// The mesh the calls travel over.
    public let mesh: Mesh
    /// The timeout of a call outside ``withCallTimeout(_:_:)``.
    public let defaultTimeout: Duration

    private struct Weak: @unchecked Sendable {
        weak var actor: (any DistributedActor)?
    }

    private let actors = NIOLockedValueBox([String: Weak]())

    /// A well-known name waiting for the next `assignID` (and only that one: an actor made in the
    /// well-known actor's `init` gets a name of its own).
    private final class PendingName: @unchecked Sendable {
        private let lock = NIOLock()
        private var name: String?
        init(_ name: String) { self.name = name }
        func take() -> String? { lock.withLock { defer { name = nil }; return name } }
    }

    @TaskLocal private static var pendingName: PendingName?
    @TaskLocal private static var callTimeout: Duration?

    /// A system over `mesh`; it registers the route `paddington.actors` there.
    public init(mesh: Mesh, defaultTimeout: Duration = .seconds(10)) {
        self.mesh = mesh
        self.defaultTimeout = defaultTimeout
        mesh.onRequest(Self.route) { [weak self] request, context in
            guard let self else { throw PaddingtonError(.unknownActor, "the actor system has stopped") }
            return try await self.receive(request, context: context)
        }
    }

    // MARK: Identities

    /// The ID of the actor called `name` on `service` (in `zone`), to `resolve` a well-known actor.
    public func id(of name: String, on service: String, zone: String = "default") -> MeshActorID {
        MeshActorID(service: service, zone: zone, name: name)
    }

    /// Makes a local actor under the well-known `name`, which other agents reach with
    /// ``id(of:on:zone:)``. A name already taken by a live actor is given to the new one.
    public func makeWellKnown<Act: DistributedActor>(_ name: String, _ make: (MeshActorSystem) throws -> Act) rethrows -> Act
    where Act.ActorSystem == MeshActorSystem {
        try Self.$pendingName.withValue(PendingName(name)) { try make(self) }
    }

    /// Runs `body` with `timeout` for every remote call it makes.
    public func withCallTimeout<T>(_ timeout: Duration, _ body: () async throws -> T) async rethrows -> T {
        try await Self.$callTimeout.withValue(timeout) { try await body() }
    }

    public func assignID<Act>(_ actorType: Act.Type) -> MeshActorID where Act: DistributedActor, Act.ID == MeshActorID {
        MeshActorID(service: mesh.configuration.name, name: Self.pendingName?.take() ?? UUID().uuidString)
    }

    public func actorReady<Act>(_ actor: Act) where Act: DistributedActor, Act.ID == MeshActorID {
        actors.withLockedValue { $0[actor.id.name] = Weak(actor: actor) }
    }

    public func resignID(_ id: MeshActorID) {
        // The actor resigning is being deinitialised, so its weak entry reads nil; a live actor under the
        // same name is its successor (a well-known name given again) and stays.
        actors.withLockedValue { actors in
            if actors[id.name]?.actor == nil { actors[id.name] = nil }
        }
    }

    public func resolve<Act>(id: MeshActorID, as actorType: Act.Type) throws -> Act? where Act: DistributedActor, Act.ID == MeshActorID {
        guard isLocal(id) else { return nil }
        guard let actor = actors.withLockedValue({ $0[id.name]?.actor }) else {
            throw PaddingtonError(.unknownActor, "no actor \(id.name) here (\(mesh.configuration.name))")
        }
        guard let typed = actor as? Act else {
            throw PaddingtonError(.unknownActor, "the actor \(id.name) here is a \(type(of: actor)), not a \(Act.self)")
        }
        return typed
    }

    private func isLocal(_ id: MeshActorID) -> Bool { id.service == mesh.configuration.name }

    // MARK: Calling

    public func makeInvocationEncoder() -> MeshInvocationEncoder { MeshInvocationEncoder() }

    public func remoteCall<Act, Err, Res>(
        on actor: Act, target: RemoteCallTarget, invocation: inout MeshInvocationEncoder, throwing: Err.Type, returning: Res.Type
    ) async throws -> Res where Act: DistributedActor, Act.ID == MeshActorID, Err: Error, Res: Codable {
        let json = try await call(actor.id, target: target, invocation: invocation)
        let decoder = JSONDecoder()
        decoder.userInfo[.actorSystemKey] = self
        do {
            return try decoder.decode(Res.self, from: Data(json))
        } catch {
            throw PaddingtonError(.invalidJSON, "\(actor.id) returned something that is not a \(Res.self)", cause: error)
        }
    }

    public func remoteCallVoid<Act, Err>(
        on actor: Act, target: RemoteCallTarget, invocation: inout MeshInvocationEncoder, throwing: Err.Type
    ) async throws where Act: DistributedActor, Act.ID == MeshActorID, Err: Error {
        _ = try await call(actor.id, target: target, invocation: invocation)
    }

    private func call(_ id: MeshActorID, target: RemoteCallTarget, invocation: MeshInvocationEncoder) async throws -> [UInt8] {
        if let failure = invocation.failure { throw failure }
        guard !isLocal(id) else { throw PaddingtonError(.unknownActor, "no actor \(id.name) here (\(mesh.configuration.name))") }
        let body = ActorWire.encode(ActorWire.Call(
            actor: id.name, target: target.identifier, generics: invocation.generics, arguments: invocation.arguments))
        let reply = try await mesh.request(
            bytes: body, to: id.service, zone: id.zone, route: Self.route, timeout: Self.callTimeout ?? defaultTimeout)
        switch try ActorWire.decodeOutcome(reply.bytes) {
        case .value(let json):
            return json
        case .thrown(let typeName, let description, let mangledName, let json):
            throw Self.rethrown(typeName: typeName, description: description, mangledName: mangledName, json: json, from: id)
        }
    }

    /// The error a remote actor threw: itself when its type is `Codable` and known in this process.
    private static func rethrown(typeName: String, description: String, mangledName: String, json: [UInt8], from id: MeshActorID) -> any Error {
        if !json.isEmpty, let type = _typeByName(mangledName) as? any (Error & Decodable).Type,
           let error = try? JSONDecoder().decode(type, from: Data(json)) {
            return error
        }
        return PaddingtonError(.remoteError, "\(id) threw \(typeName): \(description)")
    }

    // MARK: Answering

    private func receive(_ request: Request, context: RequestContext) async throws -> Reply {
        let call = try ActorWire.decodeCall(request.bytes)
        guard let actor = actors.withLockedValue({ $0[call.actor]?.actor }) else {
            throw PaddingtonError(.unknownActor, "no actor \(call.actor) on \(mesh.configuration.name)")
        }
        // A target is a method of the actor's own type: its mangled name starts with the type's. The
        // runtime would otherwise call another type's method on this actor.
        guard let typeName = _mangledTypeName(type(of: actor)), call.target.hasPrefix("$s" + typeName) else {
            throw PaddingtonError(.badRequest, "\(call.target) is not a method of \(call.actor)'s type")
        }
        var decoder = MeshInvocationDecoder(system: self, call: call)
        let handler = MeshResultHandler()
        try await executeDistributedTarget(
            on: actor, target: RemoteCallTarget(call.target), invocationDecoder: &decoder, handler: handler)
        guard let outcome = handler.outcome else {
            throw PaddingtonError(.remoteError, "the call to \(call.target) on \(call.actor) ended without a result")
        }
        return Reply(bytes: ActorWire.encode(outcome))
    }
}
