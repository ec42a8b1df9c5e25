import Paddington

/// The binary forms of a remote call and its outcome, inside a request and its reply on the route
/// `paddington.actors` (docs/agents.md). All integers big-endian.
///
/// Call: `u16 len ‖ actor name`, `u16 len ‖ target identifier`, `u8 count` of generic substitutions
/// each `u16 len ‖ mangled type name`, `u8 count` of arguments each `u32 len ‖ JSON`.
///
/// Outcome: `0` then the JSON of the value (nothing for a void call), or `1` for a thrown error then
/// `u16 len ‖ the error type's name`, `u32 len ‖ its description`, and the JSON of the error when it is
/// `Codable` (else nothing), preceded by `u16 len ‖ its mangled type name`.
enum ActorWire {
    /// The longest generic type name a call may carry.
    static let maxTypeNameBytes = 1024

    struct Call: Equatable {
        var actor: String
        var target: String
        var generics: [String]
        var arguments: [[UInt8]]
    }

    enum Outcome: Equatable {
        case value([UInt8])
        case thrown(typeName: String, description: String, mangledName: String, json: [UInt8])
    }

    static func encode(_ call: Call) -> [UInt8] {
        var out: [UInt8] = []
        append16(Array(call.actor.utf8), to: &out)
        append16(Array(call.target.utf8), to: &out)
        out.append(UInt8(call.generics.count))
        for generic in call.generics { append16(Array(generic.utf8), to: &out) }
        out.append(UInt8(call.arguments.count))
        for argument in call.arguments { append32(argument, to: &out) }
        return out
    }

    static func decodeCall(_ bytes: [UInt8]) throws -> Call {
        var reader = Reader(bytes: bytes)
        let actor = try reader.string16("the actor's name")
        let target = try reader.string16("the target")
        var generics: [String] = []
        for _ in 0..<Int(try reader.byte("the generic count")) {
            let name = try reader.string16("a generic type")
            // A mangled type name this long is no type a distributed method takes; it would only fill
            // the runtime's metadata cache.
            guard name.utf8.count <= maxTypeNameBytes else { throw PaddingtonError(.badRequest, "a generic type name is over \(maxTypeNameBytes) bytes") }
            generics.append(name)
        }
        var arguments: [[UInt8]] = []
        for _ in 0..<Int(try reader.byte("the argument count")) { arguments.append(try reader.bytes32("an argument")) }
        guard reader.isAtEnd else { throw PaddingtonError(.badRequest, "a remote call has bytes after its last argument") }
        return Call(actor: actor, target: target, generics: generics, arguments: arguments)
    }

    static func encode(_ outcome: Outcome) -> [UInt8] {
        switch outcome {
        case .value(let json):
            return [0] + json
        case .thrown(let typeName, let description, let mangledName, let json):
            var out: [UInt8] = [1]
            append16(Array(typeName.utf8.prefix(Int(UInt16.max))), to: &out)
            append32(Array(description.utf8), to: &out)
            append16(Array(mangledName.utf8.prefix(Int(UInt16.max))), to: &out)
            return out + json
        }
    }

    static func decodeOutcome(_ bytes: [UInt8]) throws -> Outcome {
        var reader = Reader(bytes: bytes)
        switch try reader.byte("the outcome") {
        case 0:
            return .value(reader.rest())
        case 1:
            let typeName = try reader.string16("the error type")
            let description = String(decoding: try reader.bytes32("the error's description"), as: UTF8.self)
            let mangled = try reader.string16("the error's mangled type")
            return .thrown(typeName: typeName, description: description, mangledName: mangled, json: reader.rest())
        case let other:
            throw PaddingtonError(.invalidJSON, "a remote call's outcome has kind \(other)")
        }
    }

    private static func append16(_ bytes: [UInt8], to out: inout [UInt8]) {
        let count = UInt16(clamping: bytes.count)
        out += [UInt8(count >> 8), UInt8(count & 0xFF)]
        out += bytes.prefix(Int(count))
    }

    private static func append32(_ bytes: [UInt8], to out: inout [UInt8]) {
        let count = UInt32(clamping: bytes.count)
        out += [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
        out += bytes
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }

        mutating func byte(_ what: String) throws -> UInt8 {
            guard offset < bytes.count else { throw PaddingtonError(.badRequest, "a remote call ends before \(what)") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func take(_ count: Int, _ what: String) throws -> [UInt8] {
            guard bytes.count - offset >= count else { throw PaddingtonError(.badRequest, "a remote call ends inside \(what)") }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        mutating func string16(_ what: String) throws -> String {
            let length = try take(2, what)
            let raw = try take(Int(length[0]) << 8 | Int(length[1]), what)
            guard let text = String(validating: raw, as: UTF8.self) else { throw PaddingtonError(.badRequest, "\(what) is not UTF-8") }
            return text
        }

        mutating func bytes32(_ what: String) throws -> [UInt8] {
            let length = try take(4, what)
            return try take(length.reduce(0) { $0 << 8 | Int($1) }, what)
        }

        mutating func rest() -> [UInt8] {
            defer { offset = bytes.count }
            return Array(bytes[offset...])
        }
    }
}
