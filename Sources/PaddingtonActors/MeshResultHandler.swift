import Distributed
import Foundation
import NIOConcurrencyHelpers
import Paddington

/// Collects what a local distributed method returned or threw, for the reply to a remote call.
public final class MeshResultHandler: DistributedTargetInvocationResultHandler, Sendable {
    public typealias SerializationRequirement = any Codable

    private let result = NIOLockedValueBox<ActorWire.Outcome?>(nil)

    var outcome: ActorWire.Outcome? { result.withLockedValue { $0 } }

    public func onReturn<Success: Codable>(value: Success) async throws {
        let json = try JSONEncoder().encode(value)
        result.withLockedValue { $0 = .value([UInt8](json)) }
    }

    public func onReturnVoid() async throws {
        result.withLockedValue { $0 = .value([]) }
    }

    public func onThrow<Err: Error>(error: Err) async throws {
        // A Codable error travels as itself (JSON and its mangled type name); any other by name and description.
        // Opened to its dynamic type: `Err` is often `any Error` itself.
        let thrown: any Error = error
        let dynamicType = type(of: thrown)
        var json: [UInt8] = []
        if let codable = thrown as? any Encodable, let data = try? JSONEncoder().encode(codable) { json = [UInt8](data) }
        let typeName = String(reflecting: dynamicType)
        let mangled = _mangledTypeName(dynamicType) ?? ""
        result.withLockedValue {
            $0 = .thrown(typeName: typeName, description: "\(thrown)", mangledName: mangled, json: json)
        }
    }
}
