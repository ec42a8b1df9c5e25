import Distributed
import Foundation
import Paddington

/// Stands in for generic substitutions a call did not send: it conforms to nothing.
enum Unsubstitutable {}

/// Reads a remote call's generic substitutions and arguments on the callee's side. A type or argument
/// that does not decode is refused with `PaddingtonError.Code.badRequest`, naming it.
public struct MeshInvocationDecoder: DistributedTargetInvocationDecoder {
    public typealias SerializationRequirement = any Codable

    private let system: MeshActorSystem
    private let call: ActorWire.Call
    private var nextArgument = 0

    init(system: MeshActorSystem, call: ActorWire.Call) {
        self.system = system
        self.call = call
    }

    public mutating func decodeGenericSubstitutions() throws -> [Any.Type] {
        guard !call.generics.isEmpty else { return [] }
        let types = try call.generics.map { name in
            guard let type = _typeByName(name) else {
                throw PaddingtonError(.badRequest, "\(call.target) names a generic type this process does not know (\(name))")
            }
            return type
        }
        // The runtime reads as many substitutions as the target has generic parameters, without
        // checking the count: a caller that sends too few must not make it read past the list. The
        // rest are filled with a type that conforms to nothing, so any requirement on them fails.
        return types + Array(repeating: Unsubstitutable.self, count: Int(UInt8.max) - types.count)
    }

    public mutating func decodeNextArgument<Argument: Codable>() throws -> Argument {
        guard nextArgument < call.arguments.count else {
            throw PaddingtonError(.badRequest, "\(call.target) takes more arguments than the call carries (\(call.arguments.count))")
        }
        defer { nextArgument += 1 }
        let decoder = JSONDecoder()
        decoder.userInfo[.actorSystemKey] = system
        do {
            return try decoder.decode(Argument.self, from: Data(call.arguments[nextArgument]))
        } catch {
            throw PaddingtonError(.badRequest, "argument \(nextArgument + 1) of \(call.target) is not a \(Argument.self)")
        }
    }

    public mutating func decodeErrorType() throws -> Any.Type? { nil }

    public mutating func decodeReturnType() throws -> Any.Type? { nil }
}
