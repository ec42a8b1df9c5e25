import PaddingtonCrypto
import Foundation

/// The JSON messages of the handshake (paddington `connection.rs`), written byte-for-byte as
/// serde_json writes them and read leniently as serde_json reads them (any field order, unknown
/// fields ignored).
package enum WireMessage {
    /// The protocol generation carried in `PeerDetails.version`.
    static let peerDetailsVersion = 2

    /// Frames 1 and 2: `{"session_key":{"data":"<hex>"},"engine":"…","version":"…"}`, plus
    /// `"protocols":[2]` from a peer with protocol 2 enabled (the downgrade marker, paddington-v2 §4).
    struct Hello: Sendable {
        var sessionKey: SecretKey
        var engine: String
        var version: String
        /// The protocols the sender supports beyond protocol 1; nil when it did not say (Rust).
        var protocols: [UInt32]? = nil
        /// `"agent":1`: the sender takes agent frames (docs/agents.md). The Rust crate ignores the field.
        var agent = false

        func json() -> [UInt8] {
            var out = Array(#"{"session_key":{"data":""#.utf8)
            out += Array(sessionKey.exposeHex().utf8)
            out += Array(#""},"engine":"#.utf8)
            JSONString.append(engine, to: &out)
            out += Array(#","version":"#.utf8)
            JSONString.append(version, to: &out)
            if let protocols {
                out += Array(#","protocols":["#.utf8)
                out += Array(protocols.map(String.init).joined(separator: ",").utf8)
                out.append(UInt8(ascii: "]"))
            }
            if agent { out += Array(#","agent":1"#.utf8) }
            out.append(UInt8(ascii: "}"))
            return out
        }

        /// Whether the sender marked protocol 2 as supported.
        var supportsProtocolTwo: Bool { protocols?.contains(2) ?? false }

        /// Decodes a Handshake. With `readingProtocols`, a `protocols` field must be an array of unsigned
        /// 32-bit integers (or null); without, it is ignored, as the Rust crate ignores it.
        static func decode(_ json: [UInt8], readingProtocols: Bool = false) throws -> Hello {
            struct Key: Decodable { let data: String }
            struct Shape: Decodable {
                let session_key: Key
                let engine: String
                let version: String
            }
            struct Marked: Decodable {
                let protocols: [UInt32]?
            }
            struct Agent: Decodable {
                let agent: UInt32?
            }
            let shape = try WireMessage.decode(Shape.self, json, what: "Handshake")
            guard shape.session_key.data.utf8.count == 64, let key = try? SecretKey(hex: shape.session_key.data) else {
                throw PaddingtonError(.protocolViolation, "Handshake session_key is not 32 bytes of hex")
            }
            guard !key.isNull else { throw PaddingtonError(.protocolViolation, "Handshake session_key is all zero") }
            var protocols: [UInt32]?
            if readingProtocols {
                do {
                    protocols = try JSONDecoder().decode(Marked.self, from: Data(json)).protocols
                } catch {
                    throw PaddingtonError(.protocolViolation, "Handshake carries a 'protocols' field that is not a list of protocol numbers", cause: error)
                }
            }
            // Read as the Rust crate reads unknown fields: anything but version 1 is no announcement.
            let agent = (try? JSONDecoder().decode(Agent.self, from: Data(json)))?.agent == 1
            return Hello(sessionKey: key, engine: shape.engine, version: shape.version, protocols: protocols, agent: agent)
        }
    }

    /// `{"server_is_secondary":bool,"client_is_secondary":bool}`.
    package struct Standby: Sendable, Equatable, Decodable {
        var serverIsSecondary: Bool
        var clientIsSecondary: Bool

        package static let primary = Standby(serverIsSecondary: false, clientIsSecondary: false)
        package static let secondaryClient = Standby(serverIsSecondary: false, clientIsSecondary: true)
        package static let secondaryServer = Standby(serverIsSecondary: true, clientIsSecondary: false)

        var isPrimary: Bool { !serverIsSecondary && !clientIsSecondary }

        init(serverIsSecondary: Bool, clientIsSecondary: Bool) {
            self.serverIsSecondary = serverIsSecondary
            self.clientIsSecondary = clientIsSecondary
        }

        enum CodingKeys: String, CodingKey {
            case serverIsSecondary = "server_is_secondary"
            case clientIsSecondary = "client_is_secondary"
        }

        func json() -> [UInt8] {
            Array(#"{"server_is_secondary":\#(serverIsSecondary),"client_is_secondary":\#(clientIsSecondary)}"#.utf8)
        }

        static func decode(_ json: [UInt8]) throws -> Standby {
            try WireMessage.decode(Standby.self, json, what: "StandbyStatus")
        }
    }

    /// Frames 3 and 4: `{"name":"…","zone":"…","version":2,"standby_status":{…}}`.
    struct PeerDetails: Sendable {
        var name: String
        var zone: String
        var version: Int
        var standby: Standby

        func json() -> [UInt8] {
            var out = Array(#"{"name":"#.utf8)
            JSONString.append(name, to: &out)
            out += Array(#","zone":"#.utf8)
            JSONString.append(zone, to: &out)
            out += Array(#","version":\#(version),"standby_status":"#.utf8)
            out += standby.json()
            out.append(UInt8(ascii: "}"))
            return out
        }

        static func decode(_ json: [UInt8]) throws -> PeerDetails {
            struct Shape: Decodable {
                let name: String
                let zone: String
                let version: UInt32
                let standby_status: Standby
            }
            let shape = try WireMessage.decode(Shape.self, json, what: "PeerDetails")
            return PeerDetails(name: shape.name, zone: shape.zone, version: Int(shape.version), standby: shape.standby_status)
        }
    }

    /// Frame 5: `{}`.
    static let checkStandbyJSON: [UInt8] = Array("{}".utf8)

    static func decodeCheckStandby(_ json: [UInt8]) throws {
        struct Empty: Decodable {}
        _ = try decode(Empty.self, json, what: "CheckStandby")
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ json: [UInt8], what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(json))
        } catch {
            throw PaddingtonError(.protocolViolation, "expected a \(what) message, got JSON that does not match it", cause: error)
        }
    }
}
