import Distributed
import Foundation
import Paddington

/// Records a remote call: its generic substitutions and arguments, each argument as JSON.
public struct MeshInvocationEncoder: DistributedTargetInvocationEncoder, Sendable {
    public typealias SerializationRequirement = any Codable

    var generics: [String] = []
    var arguments: [[UInt8]] = []
    /// The first thing that could not be recorded; the call fails with it before anything is sent.
    var failure: PaddingtonError?

    public mutating func recordGenericSubstitution<T>(_ type: T.Type) throws {
        guard let name = _mangledTypeName(type) else {
            failure = failure ?? PaddingtonError(.invalidArgument, "the generic type \(type) has no mangled name to send")
            return
        }
        generics.append(name)
    }

    public mutating func recordArgument<Value: Codable>(_ argument: RemoteCallArgument<Value>) throws {
        do {
            arguments.append([UInt8](try JSONEncoder().encode(argument.value)))
        } catch {
            failure = failure ?? PaddingtonError(.invalidArgument, "argument \(argument.effectiveLabel) does not encode as JSON: \(error)")
        }
    }

    public mutating func recordReturnType<R: Codable>(_ type: R.Type) throws {}

    public mutating func recordErrorType<E: Error>(_ type: E.Type) throws {}

    public mutating func doneRecording() throws {
        guard generics.count <= Int(UInt8.max), arguments.count <= Int(UInt8.max) else {
            failure = failure ?? PaddingtonError(.invalidArgument, "a remote call takes at most 255 arguments and generic types")
            return
        }
    }
}
