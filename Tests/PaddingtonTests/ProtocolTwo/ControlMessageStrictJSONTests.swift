import Foundation
import Testing
@testable import Paddington

/// CONTROL bodies are "a UTF-8 JSON object" (paddington-v2 §6), and "malformed JSON closes the link".
/// Foundation's parsers, which `ControlMessage.decode` uses, are more lenient than that: they detect
/// UTF-16 and UTF-32 and accept trailing commas. These tests fail until the decoder checks for itself.
@Suite("Protocol 2 CONTROL messages: strict UTF-8 JSON")
struct ControlMessageStrictJSONTests {
    @Test("JSON in UTF-16 or UTF-32 is not UTF-8 JSON and is refused", arguments: [
        String.Encoding.utf16LittleEndian, .utf16BigEndian, .utf16, .utf32LittleEndian, .utf32BigEndian,
    ])
    func otherEncodings(encoding: String.Encoding) throws {
        let body = try #require(#"{"Keepalive":{}}"#.data(using: encoding))
        let error = #expect(throws: PaddingtonError.self, "\(encoding)") { try ControlMessage.decode(Array(body)) }
        if let error { #expect(error.code == .invalidJSON) }
    }

    /// JSON (RFC 8259) has no trailing commas.
    @Test("a trailing comma is malformed JSON", arguments: [
        #"{"Keepalive":{},}"#, #"{"Keepalive":{"a":1,}}"#, #"{"Later":[1,]}"#,
        V2MachineFixture.peerDetailsJSON().replacingOccurrences(of: #""0.2.0"}}"#, with: #""0.2.0",}}"#),
        #"{"StandbyStatus":{"server_is_secondary":false,"client_is_secondary":true,}}"#,
    ])
    func trailingComma(text: String) {
        let error = #expect(throws: PaddingtonError.self, "'\(text)'") { try ControlMessage.decode(Array(text.utf8)) }
        if let error { #expect(error.code == .invalidJSON) }
    }
}
