import Foundation
import Testing
@testable import Paddington

@Suite("Agent frames: encoding and decoding")
struct AgentFrameTests {
    static let request = AgentFrame(
        kind: .request, id: 7, route: "math.add", deadlineMilliseconds: 1500,
        headers: ["traceparent": "00-abc-def-01", "x": ""], body: Array(#"{"a":1}"#.utf8))

    @Test("every kind round-trips, as bytes and as protocol 1 base64 text")
    func roundTrip() throws {
        let frames = [
            Self.request,
            AgentFrame.message(Array("hello".utf8)),
            AgentFrame(kind: .reply, id: 7, headers: ["content-type": "application/json"], body: [0, 255, 1]),
            AgentFrame(kind: .error, id: .max, route: "unknownRoute", body: Array("no such route".utf8)),
            AgentFrame(kind: .cancel, id: 1),
        ]
        for frame in frames {
            #expect(try AgentFrame.decode(try frame.encoded()) == frame)
            #expect(try AgentFrame.decode(.text(try frame.encodedText())) == frame)
            #expect(try AgentFrame.decode(.bytes(try frame.encoded())) == frame)
        }
    }

    @Test("the layout is the documented one: version, kind, id, deadline, route, headers sorted, body")
    func layout() throws {
        let frame = AgentFrame(kind: .request, id: 0x0102030405060708, route: "r", deadlineMilliseconds: 0x0A0B0C0D,
                               headers: ["b": "2", "a": "1"], body: [0xEE])
        #expect(try frame.encoded() == [
            1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 0x0A, 0x0B, 0x0C, 0x0D, 0, 1, UInt8(ascii: "r"),
            0, 2, 0, 1, UInt8(ascii: "a"), 0, 1, UInt8(ascii: "1"), 0, 1, UInt8(ascii: "b"), 0, 1, UInt8(ascii: "2"),
            0xEE,
        ])
    }

    /// Encodes a frame field by field, valid or not.
    static func raw(version: UInt8 = 1, kind: UInt8 = 1, id: UInt64 = 9, deadline: UInt32 = 1000, route: [UInt8] = Array("r".utf8),
                    headers: [([UInt8], [UInt8])] = [], headerCount: Int? = nil, body: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = [version, kind]
        withUnsafeBytes(of: id.bigEndian) { out += $0 }
        withUnsafeBytes(of: deadline.bigEndian) { out += $0 }
        withUnsafeBytes(of: UInt16(route.count).bigEndian) { out += $0 }
        out += route
        withUnsafeBytes(of: UInt16(headerCount ?? headers.count).bigEndian) { out += $0 }
        for (key, value) in headers {
            withUnsafeBytes(of: UInt16(key.count).bigEndian) { out += $0 }
            out += key
            withUnsafeBytes(of: UInt16(value.count).bigEndian) { out += $0 }
            out += value
        }
        return out + body
    }

    @Test("malformed frames are refused with a precise reason, with the request id once it was read",
          arguments: [
            ([UInt8](), "empty", false),
            (raw(version: 2), "version 2", false),
            (raw(kind: 9), "unknown agent frame kind 9", false),
            (Array(raw()[0..<6]), "before its id", false),
            (raw(deadline: 0), "no deadline", true),
            (raw(deadline: 86_400_001), "over the limit", true),
            (raw(kind: 0, id: 3, deadline: 0, route: []), "messages have id 0", false),
            (raw(kind: 2, id: 0, deadline: 0, route: []), "id 0", false),
            (raw(kind: 2, deadline: 5, route: []), "only requests do", false),
            (raw(kind: 2, deadline: 0, route: Array("r".utf8)), "carries a route", false),
            (raw(kind: 3, deadline: 0, route: []), "no code", false),
            (raw(route: [0xFF, 0xFE]), "not UTF-8", true),
            (raw(route: [UInt8](repeating: 65, count: 256)), "over the limit", true),
            (Array(raw()[0..<16]), "inside its route", true),
            (raw(headerCount: 65), "over the limit of 64", true),
            (raw(headers: [([], [])]), "a name of 0 bytes", true),
            (raw(headers: [(Array("k".utf8), [0xC3])]), "not UTF-8", true),
            (raw(headers: [(Array("k".utf8), []), (Array("k".utf8), [])]), "appears twice", true),
            (raw(headerCount: 1), "inside header 0", true),
            (raw(kind: 4, deadline: 0, route: [], body: [1]), "carries a body", false),
            (raw(kind: 0, id: 0, deadline: 0, route: []), "a message frame is empty", false),
          ])
    func malformed(bytes: [UInt8], reason: String, answerable: Bool) {
        do {
            let frame = try AgentFrame.decode(bytes)
            Issue.record("decoded \(frame)")
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
            #expect((error.requestID != nil) == answerable, "\(error.reason)")
        }
    }

    @Test("protocol 1 text that is not base64 is refused, whatever it looks like")
    func notBase64() {
        for text in ["hello", "AQEAAAAAAAAAB", "=AQE", "AQEAAAAAAAAABwAABdwACG1hdGguYWRk\n"] {
            #expect(throws: AgentFrame.DecodingFailure.self) { try AgentFrame.decode(.text(text)) }
        }
    }

    @Test("encoding refuses routes and headers over their limits")
    func encodingLimits() {
        #expect(throws: PaddingtonError.self) { try AgentFrame(kind: .request, id: 1, route: String(repeating: "r", count: 256), deadlineMilliseconds: 1).encoded() }
        #expect(throws: PaddingtonError.self) { try AgentFrame(kind: .request, id: 1, route: "r", deadlineMilliseconds: 1, headers: ["": "x"]).encoded() }
        #expect(throws: PaddingtonError.self) {
            try AgentFrame(kind: .request, id: 1, route: "r", deadlineMilliseconds: 1, headers: ["k": String(repeating: "v", count: 8193)]).encoded()
        }
        let many = Dictionary(uniqueKeysWithValues: (0..<65).map { ("h\($0)", "") })
        #expect(throws: PaddingtonError.self) { try AgentFrame(kind: .request, id: 1, route: "r", deadlineMilliseconds: 1, headers: many).encoded() }
    }

    @Test("a bad request names the field and what was wrong")
    func jsonProblems() throws {
        struct Add: Decodable { var a: Int; var b: Int; var tags: [String]? }
        func problem(_ json: String) -> String {
            switch Result(catching: { try JSONDecoder().decode(Add.self, from: Data(json.utf8)) }) {
            case .success: return "decoded"
            case .failure(let error): return JSONProblem.describe(error)
            }
        }
        #expect(problem(#"{"a":1}"#) == "field 'b' is missing")
        #expect(problem(#"{"a":1,"b":"two"}"#).hasPrefix("field 'b' is not an integer"))
        #expect(problem(#"{"a":1,"b":null}"#).hasPrefix("field 'b' is null"))
        #expect(problem(#"{"a":1,"b":2,"tags":["x",3]}"#) == "field 'tags[1]' is not a string")
        #expect(problem("not json") == "the body is not valid JSON")
    }
}
