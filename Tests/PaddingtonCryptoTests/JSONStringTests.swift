import Testing
@testable import PaddingtonCrypto

@Suite("JSON string literals, serde_json compatible")
struct JSONStringTests {
    @Test("encoding escapes exactly what serde_json escapes")
    func encode() {
        let cases: [(String, String)] = [
            ("Hello, World!", #""Hello, World!""#),
            ("a/b", #""a/b""#),
            ("q\"b\\", #""q\"b\\""#),
            ("\u{8}\u{c}\n\r\t", #""\b\f\n\r\t""#),
            ("\u{1}\u{1f}", #""\u0001\u001f""#),
            ("é😀", "\"é😀\""),
            ("\u{7f}", "\"\u{7f}\""),
            ("", #""""#),
        ]
        for (input, expected) in cases {
            #expect(String(decoding: JSONString.encode(input), as: UTF8.self) == expected)
            #expect(JSONString.encode(input).withUnsafeBufferPointer { _ in true })
        }
    }

    @Test("decoding accepts every valid escape and whitespace around the literal")
    func decode() throws {
        let cases: [(String, String)] = [
            (#""plain""#, "plain"),
            (#"  "x"  "#, "x"),
            (#""\/\"\\\b\f\n\r\t""#, "/\"\\\u{8}\u{c}\n\r\t"),
            (#""\u00e9\u0041""#, "éA"),
            (#""\ud83d\ude00""#, "😀"),
            (#""\""#.appending("\""), "\""),
        ]
        for (input, expected) in cases {
            #expect(try JSONString.decode(Array(input.utf8)) == expected, "\(input)")
        }
    }

    @Test("decoding refuses what serde_json refuses", arguments: [
        #"plain"#, #""unterminated"#, #"{"a":1}"#, #"42"#, #"null"#, #""\ud83d""#, #""\ude00""#, #""\x""#,
        #""a"b""#, "\"tab\there\"", #""\u12""#, #""a" x"#, "",
    ])
    func refuse(input: String) {
        #expect { try JSONString.decode(Array(input.utf8)) } throws: { ($0 as? PaddingtonError)?.code == .invalidJSON }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        #expect(throws: PaddingtonError.self) { try JSONString.decode([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("round trip over every kind of character")
    func roundTrip() throws {
        var text = ""
        for scalar in (0..<0x300).compactMap(Unicode.Scalar.init) { text.unicodeScalars.append(scalar) }
        text += "😀🇬🇧"
        #expect(try JSONString.decode(JSONString.encode(text)) == text)
    }
}

@Suite("Hex")
struct HexTests {
    @Test("encode is lowercase; decode takes either case and nothing else")
    func codec() {
        #expect(Hex.encodeToString([0x00, 0xab, 0xff]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xab, 0xff])
        #expect(Hex.decode("0") == nil)
        #expect(Hex.decode("0g") == nil)
        #expect(Hex.decode(" 00") == nil)
        #expect(Hex.decode("") == [])
    }
}
