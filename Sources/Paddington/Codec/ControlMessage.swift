import Foundation
import PaddingtonCrypto

/// The body of a protocol 2 CONTROL frame: a UTF-8 JSON object with exactly one key, the variant's
/// name (paddington-v2 §6).
package enum ControlMessage: Equatable, Sendable {
    /// The peer's identity and standby status (the session start, in both directions).
    case peerDetails(ProtocolTwoPeerDetails)
    /// A standby client asks again.
    case checkStandby
    /// The server's answer to ``checkStandby``.
    case standbyStatus(WireMessage.Standby)
    /// Liveness; never shown to the application.
    case keepalive
    /// `{"Agent":{"version":1}}`: the sender takes agent frames (an extension of ours; other
    /// implementations ignore it as an unknown variant).
    case agent
    /// `{"AgentFrames":{}}`: the sender's DATA frames after this one are agent frames.
    case agentFrames
    /// A variant this version does not know (room to grow): ignored during a session.
    case unknown(String)

    /// `{"Keepalive":{}}`.
    static let keepaliveJSON = Array(#"{"Keepalive":{}}"#.utf8)
    /// `{"CheckStandby":{}}`.
    static let checkStandbyJSON = Array(#"{"CheckStandby":{}}"#.utf8)
    static let agentJSON = Array(#"{"Agent":{"version":1}}"#.utf8)
    static let agentFramesJSON = Array(#"{"AgentFrames":{}}"#.utf8)

    /// The JSON body.
    package func json() -> [UInt8] {
        switch self {
        case .peerDetails(let details): return Array(#"{"PeerDetails":"#.utf8) + details.json() + [UInt8(ascii: "}")]
        case .checkStandby: return Self.checkStandbyJSON
        case .standbyStatus(let status): return Array(#"{"StandbyStatus":"#.utf8) + status.json() + [UInt8(ascii: "}")]
        case .keepalive: return Self.keepaliveJSON
        case .agent: return Self.agentJSON
        case .agentFrames: return Self.agentFramesJSON
        case .unknown(let name):
            var out = [UInt8(ascii: "{")]
            JSONString.append(name, to: &out)
            out += Array(":{}}".utf8)
            return out
        }
    }

    /// Decodes a CONTROL body.
    ///
    /// - Throws: `PaddingtonError.Code.invalidJSON` when the body is not a JSON object
    ///   with exactly one key, or a known variant's value does not have its shape.
    package static func decode(_ body: [UInt8]) throws -> ControlMessage {
        try StrictJSON.validate(body)
        let data = Data(body)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw PaddingtonError(.invalidJSON, "a CONTROL frame is not JSON", cause: error)
        }
        guard let dictionary = object as? [String: Any], dictionary.count == 1, let name = dictionary.keys.first else {
            throw PaddingtonError(.invalidJSON, "a CONTROL frame must be a JSON object with exactly one key")
        }
        switch name {
        case "Keepalive", "CheckStandby", "AgentFrames":
            guard dictionary[name] is [String: Any] else {
                throw PaddingtonError(.invalidJSON, "the value of \(name) must be a JSON object")
            }
            switch name {
            case "Keepalive": return .keepalive
            case "CheckStandby": return .checkStandby
            default: return .agentFrames
            }
        case "Agent":
            // Version 1 of the agent frames; a later version a peer may list is not ours to read.
            guard let value = dictionary[name] as? [String: Any], let version = value["version"] as? Int, version >= 1 else {
                throw PaddingtonError(.invalidJSON, "the value of Agent must be an object with a positive integer 'version'")
            }
            return version == 1 ? .agent : .unknown(name)
        case "PeerDetails":
            return .peerDetails(try ProtocolTwoPeerDetails.decode(data))
        case "StandbyStatus":
            do {
                return .standbyStatus(try JSONDecoder().decode(StandbyStatusShape.self, from: data).StandbyStatus)
            } catch {
                throw PaddingtonError(.invalidJSON, "StandbyStatus does not have its shape", cause: error)
            }
        default:
            return .unknown(name)
        }
    }

    /// The variant's name, for messages.
    package var name: String {
        switch self {
        case .peerDetails: return "PeerDetails"
        case .checkStandby: return "CheckStandby"
        case .standbyStatus: return "StandbyStatus"
        case .keepalive: return "Keepalive"
        case .agent: return "Agent"
        case .agentFrames: return "AgentFrames"
        case .unknown(let name): return name
        }
    }
}

private struct StandbyStatusShape: Decodable {
    let StandbyStatus: WireMessage.Standby
}

/// `PeerDetails` of protocol 2: protocol 1's `PeerDetails` plus the engine and its version, which
/// protocol 1 carried in `Handshake`.
package struct ProtocolTwoPeerDetails: Equatable, Sendable {
    var name: String
    var zone: String
    var version: Int
    var standby: WireMessage.Standby
    /// Absent or null in the JSON: unknown.
    var engine: String?
    var engineVersion: String?

    /// Protocol 1's `PeerDetails` JSON, with the engine fields before its closing brace.
    func json() -> [UInt8] {
        var out = WireMessage.PeerDetails(name: name, zone: zone, version: version, standby: standby).json()
        out.removeLast()
        if let engine {
            out += Array(#","engine":"#.utf8)
            JSONString.append(engine, to: &out)
        }
        if let engineVersion {
            out += Array(#","engine_version":"#.utf8)
            JSONString.append(engineVersion, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Decodes the whole CONTROL body `{"PeerDetails":{…}}`.
    static func decode(_ data: Data) throws -> ProtocolTwoPeerDetails {
        struct Fields: Decodable {
            let name: String
            let zone: String
            let version: UInt32
            let standby_status: WireMessage.Standby
            // A present value must be a string or null; any other type fails the decoding.
            let engine: String?
            let engine_version: String?
        }
        struct Shape: Decodable { let PeerDetails: Fields }
        do {
            let fields = try JSONDecoder().decode(Shape.self, from: data).PeerDetails
            return ProtocolTwoPeerDetails(
                name: fields.name, zone: fields.zone, version: Int(fields.version), standby: fields.standby_status,
                engine: fields.engine, engineVersion: fields.engine_version)
        } catch {
            throw PaddingtonError(.invalidJSON, "PeerDetails does not have its shape", cause: error)
        }
    }
}
