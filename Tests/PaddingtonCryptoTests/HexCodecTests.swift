import Testing
@testable import PaddingtonCrypto

/// Every implementation of ``HexCodec`` against the portable codec, each forced in turn.
@Suite("Hex codec selected at run time")
struct HexCodecTests {
    static let digits = Array("0123456789abcdefABCDEF".utf8)

    /// The result of `decoder` on `input`: the failure offset, and the decoded bytes (nil after a failure).
    /// The output has room beyond `input.count / 2`; those bytes must be left alone.
    func run(_ decoder: HexCodec, _ input: [UInt8]) -> (failure: Int?, bytes: [UInt8]?) {
        let sentinel: UInt8 = 0xA7
        var output = [UInt8](repeating: sentinel, count: input.count / 2 + 64)
        let failure = input.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { decoder.decode(input, into: $0) }
        }
        #expect(output[(input.count / 2)...].allSatisfy { $0 == sentinel }, "\(decoder) wrote past its output")
        return (failure, failure == nil ? Array(output[0..<(input.count / 2)]) : nil)
    }

    /// The reference: the portable decoder, and a naive one written here.
    func reference(_ input: [UInt8]) -> (failure: Int?, bytes: [UInt8]?) {
        let portable = run(.portable, input)
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: return nil
            }
        }
        let naiveFailure = input.firstIndex { value($0) == nil }
        #expect(portable.failure == naiveFailure, "portable decoder disagrees with the naive one")
        if naiveFailure == nil {
            let naive = stride(from: 0, to: input.count, by: 2).map { value(input[$0])! << 4 | value(input[$0 + 1])! }
            #expect(portable.bytes == naive, "portable decoder disagrees with the naive one")
        }
        return portable
    }

    /// `decoder`'s encoding of `input`, into a separate buffer and expanded in place (input in the upper
    /// half of the output); nothing outside the output may change.
    func encoded(_ codec: HexCodec, _ input: [UInt8]) -> String {
        let sentinel: UInt8 = 0xA7
        var output = [UInt8](repeating: sentinel, count: 2 * input.count + 64)
        input.withUnsafeBytes { input in output.withUnsafeMutableBytes { codec.encode(input, into: $0) } }
        #expect(output[(2 * input.count)...].allSatisfy { $0 == sentinel }, "\(codec) wrote past its output")
        // In place: [guard 16][upper half holds the input][guard 16].
        var inPlace = [UInt8](repeating: sentinel, count: 16) + [UInt8](repeating: 0, count: input.count) + input
            + [UInt8](repeating: sentinel, count: 16)
        inPlace.withUnsafeMutableBytes { buffer in
            let region = UnsafeMutableRawBufferPointer(rebasing: buffer[16..<(16 + 2 * input.count)])
            codec.encode(UnsafeRawBufferPointer(rebasing: region[input.count...]), into: region)
        }
        #expect(inPlace.prefix(16).allSatisfy { $0 == sentinel } && inPlace.suffix(16).allSatisfy { $0 == sentinel })
        #expect(inPlace[16..<(16 + 2 * input.count)] == output[0..<(2 * input.count)], "\(codec) in place, length \(input.count)")
        return String(decoding: output[0..<(2 * input.count)], as: UTF8.self)
    }

    @Test("encoding of every length 0...300 matches the portable encoder and a naive one, apart and in place",
          arguments: HexCodec.available)
    func encodeEveryLength(codec: HexCodec) {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let naive = input.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            #expect(encoded(.portable, input) == naive, "portable, length \(length)")
            #expect(encoded(codec, input) == naive, "\(codec), length \(length)")
        }
        // Every byte value, in every lane of a vector block.
        let all = (0...255).map(UInt8.init) + (0...255).reversed().map(UInt8.init)
        #expect(encoded(codec, all) == all.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
    }

    @Test("the selected decoder is the best available one; portable is always available")
    func selection() {
        #expect(HexCodec.available.contains(.portable))
        #expect(HexCodec.available.contains(HexCodec.selected))
        if HexCodec.avx2.isAvailable { #expect(HexCodec.selected == .avx2) }
        #if arch(x86_64)
        // Every x86-64 machine this project runs on has SSSE3; a missing one would mean detection broke.
        #expect(HexCodec.ssse3.isAvailable)
        #endif
    }

    @Test("valid input of every even length 0...300, lower, upper and mixed case", arguments: HexCodec.available)
    func everyLength(decoder: HexCodec) {
        var generator = SystemRandomNumberGenerator()
        for length in stride(from: 0, through: 300, by: 2) {
            let lower = (0..<length).map { _ in Self.digits[Int.random(in: 0..<16, using: &generator)] }
            let upper = Array(String(decoding: lower, as: UTF8.self).uppercased().utf8)
            let mixed = (0..<length).map { _ in Self.digits[Int.random(in: 0..<22, using: &generator)] }
            for input in [lower, upper, mixed] {
                let expected = reference(input)
                #expect(expected.failure == nil)
                let got = run(decoder, input)
                #expect(got.failure == nil, "\(decoder), length \(length)")
                #expect(got.bytes == expected.bytes, "\(decoder), length \(length)")
            }
        }
    }

    @Test("every byte value at every position of a 130-character input", arguments: HexCodec.available)
    func everyByteEveryPosition(decoder: HexCodec) {
        // Two 64-character AVX2 blocks, four 32-character SSSE3 blocks, and a two-character tail.
        let length = 130
        let base = (0..<length).map { Self.digits[$0 % 22] }
        for position in 0..<length {
            for value in 0...255 {
                var input = base
                input[position] = UInt8(value)
                let expected = reference(input)
                let got = run(decoder, input)
                #expect(got.failure == expected.failure, "\(decoder): byte \(value) at \(position)")
                #expect(got.bytes == expected.bytes, "\(decoder): byte \(value) at \(position)")
            }
        }
    }

    @Test("a bad character at every position, for several lengths; the first of two is reported",
          arguments: HexCodec.available)
    func badCharacterEveryPosition(decoder: HexCodec) {
        // Just outside the ranges the decoders test, and bytes whose low bits look like digits.
        let bad: [UInt8] = [0x00, 0x10, 0x19, 0x2F, 0x3A, 0x40, 0x47, 0x60, 0x67, 0x7F, 0x80, 0xB0, 0xC1, 0xE6, 0xFF]
        for length in [2, 30, 32, 34, 62, 64, 66, 96, 126, 128, 130, 192, 256, 298, 300] {
            let base = (0..<length).map { Self.digits[($0 * 7) % 22] }
            for position in 0..<length {
                for byte in bad {
                    var input = base
                    input[position] = byte
                    let got = run(decoder, input)
                    #expect(got.failure == position, "\(decoder): 0x\(String(byte, radix: 16)) at \(position) of \(length)")
                    // A second bad character later in the input does not change the answer.
                    if position + 40 < length {
                        input[position + 40] = 0x20
                        #expect(run(decoder, input).failure == position, "\(decoder): two bad characters, first at \(position)")
                    }
                }
            }
        }
    }

    @Test("large random inputs agree with the portable decoder", arguments: HexCodec.available)
    func large(decoder: HexCodec) {
        var generator = SystemRandomNumberGenerator()
        for length in [4096, 65536 + 6, 1 << 20] {
            var input = (0..<length).map { _ in Self.digits[Int.random(in: 0..<22, using: &generator)] }
            #expect(run(decoder, input).bytes == reference(input).bytes, "\(decoder), length \(length)")
            let position = Int.random(in: 0..<length, using: &generator)
            input[position] = UInt8(ascii: "g")
            #expect(run(decoder, input).failure == position, "\(decoder), length \(length)")
        }
    }
}
