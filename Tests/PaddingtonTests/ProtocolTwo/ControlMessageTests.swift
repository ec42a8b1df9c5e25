import Foundation
import Testing
@testable import Paddington
import PaddingtonCrypto

/// CONTROL frame bodies (paddington-v2 §6): a UTF-8 JSON object with exactly one key, the variant.
@Suite("Protocol 2 CONTROL messages")
struct ControlMessageTests {
    static func decode(_ text: String) throws -> ControlMessage {
        try ControlMessage.decode(Array(text.utf8))
    }

    static let details = ProtocolTwoPeerDetails(
        name: "echo-client", zone: "default", version: 2, standby: .primary, engine: "swift-paddington", engineVersion: "0.2.0")

    @Test("the variants this version writes, byte for byte")
    func encoding() {
        #expect(String(decoding: ControlMessage.keepalive.json(), as: UTF8.self) == #"{"Keepalive":{}}"#)
        #expect(String(decoding: ControlMessage.checkStandby.json(), as: UTF8.self) == #"{"CheckStandby":{}}"#)
        #expect(String(decoding: ControlMessage.standbyStatus(.secondaryClient).json(), as: UTF8.self)
            == #"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":true}}"#)
        #expect(String(decoding: ControlMessage.peerDetails(Self.details).json(), as: UTF8.self)
            == #"{"PeerDetails":{"name":"echo-client","zone":"default","version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false},"engine":"swift-paddington","engine_version":"0.2.0"}}"#)
        var unknownEngine = Self.details
        unknownEngine.engine = nil
        unknownEngine.engineVersion = nil
        #expect(String(decoding: ControlMessage.peerDetails(unknownEngine).json(), as: UTF8.self)
            == #"{"PeerDetails":{"name":"echo-client","zone":"default","version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false}}}"#)
        #expect(String(decoding: ControlMessage.unknown("Later\"").json(), as: UTF8.self) == #"{"Later\"":{}}"#)
    }

    @Test("every variant reads back what it writes", arguments: [
        ControlMessage.keepalive, .checkStandby, .standbyStatus(.primary), .standbyStatus(.secondaryClient), .standbyStatus(.secondaryServer),
        .peerDetails(details), .peerDetails(ProtocolTwoPeerDetails(name: "a\"\\é", zone: "z\n", version: 7, standby: .secondaryClient, engine: nil, engineVersion: "x")),
        .unknown("Future"), .unknown("ü \u{1}"),
    ])
    func roundTrip(message: ControlMessage) throws {
        #expect(try ControlMessage.decode(message.json()) == message)
    }

    @Test("Keepalive and CheckStandby take any object as their value", arguments: [
        "{}", #"{"a":1}"#, #"{"a":[1,{"b":null}],"c":"d"}"#, #"{"Keepalive":{}}"#, #"{"nested":{"deep":{"deeper":[true,false]}}}"#,
    ])
    func anyObject(value: String) throws {
        #expect(try Self.decode(#"{"Keepalive":\#(value)}"#) == .keepalive)
        #expect(try Self.decode(#"{"CheckStandby":\#(value)}"#) == .checkStandby)
        // Whitespace around the JSON is JSON.
        #expect(try Self.decode(" {\n\"Keepalive\" : \(value) } ") == .keepalive)
    }

    @Test("Keepalive and CheckStandby with a value that is not an object are refused", arguments: [
        "[]", "null", "1", #""""#, "true", "[{}]",
    ])
    func notAnObject(value: String) {
        for name in ["Keepalive", "CheckStandby"] {
            let error = #expect(throws: PaddingtonError.self) { try Self.decode(#"{"\#(name)":\#(value)}"#) }
            #expect(error?.code == .invalidJSON, "\(name): \(value)")
        }
    }

    @Test("exactly one key", arguments: [
        "{}", #"{"Keepalive":{},"CheckStandby":{}}"#, #"{"Keepalive":{},"Other":{}}"#, #"{"Unknown1":{},"Unknown2":{}}"#,
        #"{"PeerDetails":{"name":"a","zone":"b","version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false}},"Keepalive":{}}"#,
    ])
    func exactlyOneKey(text: String) {
        let error = #expect(throws: PaddingtonError.self) { try Self.decode(text) }
        #expect(error?.code == .invalidJSON)
    }

    @Test("not a JSON object: malformed, a scalar, an array, empty", arguments: [
        "", " ", "{", "}", #"{"Keepalive":{}"#, #"{"Keepalive":{}}}"#, #"{"Keepalive":{}} x"#, #"{Keepalive:{}}"#, #"{'Keepalive':{}}"#,
        "null", "1", #""Keepalive""#, #"["Keepalive",{}]"#, "[]", #"{"Keepalive":{/*c*/}}"#, #"{"Keepalive":{}"#,
        "KEEPALIVE",
    ])
    func notAnObjectAtAll(text: String) {
        let error = #expect(throws: PaddingtonError.self) { try Self.decode(text) }
        #expect(error?.code == .invalidJSON, "'\(text)'")
    }

    @Test("bytes that are not UTF-8 are refused", arguments: [
        [UInt8](#"{"Keepalive":{"a":""#.utf8) + [0xFF] + Array(#""}}"#.utf8),
        [UInt8](#"{"Future"#.utf8) + [0xC3, 0x28] + Array(#"":{}}"#.utf8),
        [UInt8](#"{"Keepalive":{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}}"#.utf8),  // an encoded surrogate
        [UInt8](#"{"Keepalive":{"a":""#.utf8) + [0xC0, 0xAF] + Array(#""}}"#.utf8),  // an overlong encoding
    ])
    func notUTF8(body: [UInt8]) {
        let error = #expect(throws: PaddingtonError.self) { try ControlMessage.decode(body) }
        #expect(error?.code == .invalidJSON, "\(body)")
    }

    @Test("unknown variants are reported by name, whatever their value")
    func unknownVariants() throws {
        #expect(try Self.decode(#"{"Later":{}}"#) == .unknown("Later"))
        #expect(try Self.decode(#"{"Later":[1,2]}"#) == .unknown("Later"))
        #expect(try Self.decode(#"{"Later":null}"#) == .unknown("Later"))
        #expect(try Self.decode(#"{"keepalive":{}}"#) == .unknown("keepalive"), "names are case-sensitive")
        #expect(try Self.decode(#"{"":{}}"#) == .unknown(""))
        #expect(try Self.decode(#"{"Keep\u0061live":{}}"#) == .keepalive, "an escaped name is the same name")
        #expect(try Self.decode(#"{"Later":{}}"#).name == "Later")
    }

    @Test("PeerDetails: the fields, in any order, unknown fields ignored, engine absent or null")
    func peerDetailsShapes() throws {
        let reordered = #"{"PeerDetails":{"engine_version":"0.2.0","standby_status":{"client_is_secondary":false,"server_is_secondary":false},"extra":[1],"version":2,"zone":"default","engine":"swift-paddington","name":"echo-client"}}"#
        #expect(try Self.decode(reordered) == .peerDetails(Self.details))
        var bare = Self.details
        bare.engine = nil
        bare.engineVersion = nil
        #expect(try Self.decode(#"{"PeerDetails":{"name":"echo-client","zone":"default","version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false},"engine":null}}"#)
            == .peerDetails(bare))
        #expect(try Self.decode(V2MachineFixture.peerDetailsJSON(engine: nil, engineVersion: nil)) == .peerDetails(bare))
        // A version other than 2 decodes; the handshake refuses it.
        guard case .peerDetails(let three) = try Self.decode(V2MachineFixture.peerDetailsJSON(version: "3")) else {
            Issue.record("expected PeerDetails")
            return
        }
        #expect(three.version == 3)
    }

    @Test("PeerDetails without its shape is refused", arguments: [
        V2MachineFixture.peerDetailsJSON(name: "x").replacingOccurrences(of: #""name":"x","#, with: ""),  // no name
        V2MachineFixture.peerDetailsJSON(version: #""2""#),
        V2MachineFixture.peerDetailsJSON(version: "-2"),
        V2MachineFixture.peerDetailsJSON(version: "2.5"),
        V2MachineFixture.peerDetailsJSON(version: "4294967296"),
        V2MachineFixture.peerDetailsJSON(version: "null"),
        V2MachineFixture.peerDetailsJSON(standby: "null"),
        V2MachineFixture.peerDetailsJSON(standby: "{}"),
        V2MachineFixture.peerDetailsJSON(standby: #"{"server_is_secondary":0,"client_is_secondary":false}"#),
        V2MachineFixture.peerDetailsJSON(engine: "2"),
        V2MachineFixture.peerDetailsJSON(engine: "false"),
        V2MachineFixture.peerDetailsJSON(engineVersion: "{}"),
        #"{"PeerDetails":{"name":1,"zone":"default","version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false}}}"#,
        #"{"PeerDetails":{"name":"a","zone":null,"version":2,"standby_status":{"server_is_secondary":false,"client_is_secondary":false}}}"#,
        #"{"PeerDetails":null}"#, #"{"PeerDetails":{}}"#, #"{"PeerDetails":[]}"#, #"{"PeerDetails":"x"}"#,
    ])
    func peerDetailsRefused(text: String) {
        let error = #expect(throws: PaddingtonError.self) { try Self.decode(text) }
        #expect(error?.code == .invalidJSON, "\(text)")
    }

    @Test("StandbyStatus: both booleans, in any order; anything else is refused")
    func standbyStatus() throws {
        #expect(try Self.decode(#"{"StandbyStatus":{"client_is_secondary":true,"server_is_secondary":false}}"#) == .standbyStatus(.secondaryClient))
        #expect(try Self.decode(#"{"StandbyStatus":{"server_is_secondary":true,"client_is_secondary":false,"x":{}}}"#) == .standbyStatus(.secondaryServer))
        for text in [
            #"{"StandbyStatus":{}}"#, #"{"StandbyStatus":{"server_is_secondary":false}}"#, #"{"StandbyStatus":null}"#,
            #"{"StandbyStatus":{"server_is_secondary":"false","client_is_secondary":false}}"#, #"{"StandbyStatus":[false,false]}"#,
            #"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":1}}"#,
        ] {
            let error = #expect(throws: PaddingtonError.self) { try Self.decode(text) }
            #expect(error?.code == .invalidJSON, "\(text)")
        }
    }

    @Test("the codec refuses PeerDetails, CheckStandby and StandbyStatus once the session runs, ignores unknown variants, and closes on malformed JSON")
    func sessionPhase() throws {
        let f = try V2MachineFixture()
        var client = try f.client()
        var server = try f.server()
        let run = BackToBackRun.run(client: &client, server: &server)
        let codec = try #require(run.server?.session?.protocolTwoCodec)
        var peer = ProtocolTwo.FrameSealer(key: try SecretKey(hex: "c6da1a47436f3165ee099127a63c019b31dce37a119984c2aff5b6122b92b640"))
        // The client's PeerDetails used nonce 0 of this direction.
        _ = try peer.seal(.control, body: Array(f.v.client_to_server[0].body_utf8.utf8))
        #expect(try codec.openForTest(try peer.seal(.control, body: Array(#"{"Later":{"x":1}}"#.utf8))) == .ignored)
        #expect(try codec.openForTest(try peer.seal(.control, body: Array(#"{"Keepalive":{"x":1}}"#.utf8))) == .keepalive)
        #expect(try codec.openForTest(try peer.seal(.data, body: Array("KEEPALIVE".utf8))) == .message(.text("KEEPALIVE")),
            "KEEPALIVE in a DATA frame is an ordinary payload")
        for (index, body) in [V2MachineFixture.peerDetailsJSON(), #"{"CheckStandby":{}}"#, #"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":false}}"#, "{"].enumerated() {
            // Each refusal closes the link: a fresh session per case.
            var c = try f.client()
            var s = try f.server()
            let fresh = BackToBackRun.run(client: &c, server: &s)
            let freshCodec = try #require(fresh.server?.session?.protocolTwoCodec)
            var sealer = ProtocolTwo.FrameSealer(key: try SecretKey(hex: "c6da1a47436f3165ee099127a63c019b31dce37a119984c2aff5b6122b92b640"), nonce: 1)
            let error = #expect(throws: PaddingtonError.self) { try freshCodec.openForTest(try sealer.seal(.control, body: Array(body.utf8))) }
            #expect(error?.code == (index == 3 ? .invalidJSON : .protocolViolation), "\(body)")
        }
    }
}
