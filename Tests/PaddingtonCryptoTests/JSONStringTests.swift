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

@Suite("Hex, exhaustively")
struct HexExhaustiveTests {
    @Test("every byte value in every position is classified as the table does (word and byte paths)")
    func everyByte() {
        let valid = Set(Array("0123456789abcdefABCDEF".utf8))
        // Three 16-character blocks for the word loop, then two characters for the byte loop.
        let length = 50
        for position in 0..<length {
            for value in 0...255 {
                var text = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                text[position] = UInt8(value)
                let result = text.withUnsafeBytes { input in
                    var out = [UInt8](repeating: 0, count: length / 2)
                    return out.withUnsafeMutableBytes { Hex.decode(input, into: $0) }
                }
                if valid.contains(UInt8(value)) {
                    #expect(result == nil, "byte \(value) at \(position)")
                } else {
                    #expect(result == position, "byte \(value) at \(position)")
                }
            }
        }
    }

    @Test("encode and decode agree with a naive codec on random data of every small length")
    func random() {
        for length in 0..<100 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            let naive = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            #expect(Hex.encodeToString(bytes) == naive)
            #expect(Hex.decode(naive) == bytes)
            #expect(Hex.decode(naive.uppercased()) == bytes)
            // In place, as the envelope decodes its inner layer.
            var buffer = Array(naive.utf8)
            let failure = buffer.withUnsafeMutableBytes { Hex.decode(UnsafeRawBufferPointer($0), into: $0) }
            #expect(failure == nil)
            #expect(Array(buffer.prefix(length)) == bytes, "in place, length \(length)")
        }
    }
}
