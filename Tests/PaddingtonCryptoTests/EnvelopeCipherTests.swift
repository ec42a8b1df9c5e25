import Foundation
import Testing
@testable import PaddingtonCrypto

@Suite("EnvelopeCipher: the per-link key schedule")
struct EnvelopeCipherTests {
    let keys = EnvelopeKeys.generate()
    let salts = ConnectionSalts.generate()
    var cipher: EnvelopeCipher { EnvelopeCipher(keys: keys, salts: salts) }

    /// The outcome of an open: the JSON, or the error's code and message.
    enum Outcome: Equatable {
        case opened([UInt8])
        case failed(PaddingtonError.Code, String)
    }

    func outcome(_ body: () throws -> [UInt8]) -> Outcome {
        do {
            return .opened(try body())
        } catch let error as PaddingtonError {
            return .failed(error.code, error.message)
        } catch {
            return .failed(.transport, "unexpected \(error)")
        }
    }

    /// Opens `frame` with the cipher and with the static call; both must agree exactly.
    func openBoth(_ frame: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Outcome {
        let viaCipher = outcome { try cipher.open(frame) }
        let viaStatic = outcome { try Envelope.open(frame, keys: keys, salts: salts) }
        #expect(viaCipher == viaStatic, sourceLocation: sourceLocation)
        return viaCipher
    }

    @Test("round trips at several sizes, both ways between the cipher and the static calls",
          arguments: [1, 2, 31, 32, 33, 100, 1024, 65536, 1 << 20])
    func roundTrip(size: Int) throws {
        let json = JSONString.encode(String(repeating: "é", count: size / 2) + String(repeating: "x", count: size % 2))
        let frame = cipher.seal(json: json)
        #expect(frame.count == EnvelopeCipher.frameCount(jsonCount: json.count))
        #expect(frame.count == 4 * json.count + 372)
        #expect(frame.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        #expect(openBoth(frame) == .opened(json))
        #expect(try cipher.open(Envelope.seal(json, keys: keys, salts: salts)) == json)
    }

    @Test("a cipher prints redacted")
    func redacted() {
        #expect("\(cipher)" == "EnvelopeCipher(<redacted>)")
        #expect(String(reflecting: cipher) == "EnvelopeCipher(<redacted>)")
    }

    @Test("the buffer API writes exactly the frame; two seals differ")
    func bufferAPI() throws {
        let json = JSONString.encode("buffer")
        let count = EnvelopeCipher.frameCount(jsonCount: json.count)
        var space = [UInt8](repeating: 0xEE, count: count + 8)
        json.withUnsafeBytes { json in
            space.withUnsafeMutableBytes { cipher.seal(json: json, into: UnsafeMutableRawBufferPointer(rebasing: $0[4..<(4 + count)])) }
        }
        #expect(space.prefix(4).allSatisfy { $0 == 0xEE } && space.suffix(4).allSatisfy { $0 == 0xEE })
        let frame = Array(space[4..<(4 + count)])
        #expect(try frame.withUnsafeBytes { try cipher.open($0) } == json)
        #expect(cipher.seal(json: json) != cipher.seal(json: json))
    }

    @Test("frames under other keys or salts fail the outer layer; another inner key fails the inner layer")
    func wrongKeys() {
        let frame = cipher.seal(json: JSONString.encode("hello"))
        for other in [
            EnvelopeCipher(keys: .generate(), salts: salts),
            EnvelopeCipher(keys: keys, salts: .generate()),
            EnvelopeCipher(keys: keys, salts: ConnectionSalts(inner: salts.inner, outer: [])),
        ] {
            #expect { try other.open(frame) } throws: {
                ($0 as? PaddingtonError)?.code == .decryptionFailed && ($0 as? PaddingtonError)?.message.contains("outer") == true
            }
        }
        let innerOnly = EnvelopeCipher(keys: EnvelopeKeys(inner: .generate(), outer: keys.outer), salts: salts)
        #expect { try innerOnly.open(frame) } throws: {
            ($0 as? PaddingtonError)?.code == .decryptionFailed && ($0 as? PaddingtonError)?.message.contains("inner") == true
        }
    }

    @Test("salts of any length, empty included, agree with the static calls", arguments: [0, 1, 31, 32, 64, 129, 300])
    func saltLengths(length: Int) throws {
        let salts = ConnectionSalts(inner: [UInt8](repeating: 0x5A, count: length), outer: [UInt8](repeating: 0xA5, count: length / 2))
        let cipher = EnvelopeCipher(keys: keys, salts: salts)
        let json = JSONString.encode("salted")
        #expect(try Envelope.open(cipher.seal(json: json), keys: keys, salts: salts) == json)
        #expect(try cipher.open(Envelope.seal(json, keys: keys, salts: salts)) == json)
    }

    @Test("hostile frames fail with the same code and message as the static open")
    func hostileFramesAgree() {
        let frame = cipher.seal(json: JSONString.encode("hello, hostile world"))
        var cases: [[UInt8]] = [[], Array(frame.prefix(209)), Array(frame.dropLast()), Array(frame.dropLast(2)), frame + [0x30]]
        for offset in [0, 63, 64, 127, 128, 129, 191, 192, 300, frame.count - 1] {
            for byte: UInt8 in [UInt8(ascii: "g"), UInt8(ascii: "0"), UInt8(ascii: "F"), 0xC3, 0x00] {
                var bad = frame
                bad[offset] = byte
                cases.append(bad)
            }
        }
        let uppercase = Array(String(decoding: frame, as: UTF8.self).uppercased().utf8)
        cases.append(uppercase)
        for bad in cases { _ = openBoth(bad) }
        #expect(openBoth(uppercase) == .opened(JSONString.encode("hello, hostile world")))
        #expect(openBoth(Array(frame.dropLast(2))) == .failed(.decryptionFailed, "outer layer did not verify (wrong keys, wrong salts or tampered frame)"))
        if case .failed(let code, let message) = openBoth(cases[5]) {
            #expect(code == .malformedFrame && message == "frame has a non-hex character at offset 0")
        } else {
            Issue.record("a frame with a bad character at offset 0 opened")
        }
    }

    /// `frame` with its outer plaintext replaced by `change(plaintext)` and sealed again by hand under
    /// the same outer key and nonce, so that the outer layer can hold what a normal seal never writes
    /// (escapes, bad inner hex). The infos, and so the inner key, are kept.
    func rewrap(_ frame: [UInt8], _ change: ([UInt8]) -> [UInt8]) throws -> [UInt8] {
        let infos = bytes(String(decoding: frame[0..<128], as: UTF8.self))
        let sealed = bytes(String(decoding: frame[128...], as: UTF8.self))
        var key = [UInt8](repeating: 0, count: 32)
        key.withUnsafeMutableBytes { key in
            infos.withUnsafeBytes { infos in
                PerFrameKeySchedule(keys: keys, salts: salts).deriveOuterKey(
                    info: UnsafeRawBufferPointer(rebasing: infos[32..<64]), into: key.baseAddress!)
            }
        }
        var plain = [UInt8](repeating: 0, count: sealed.count - 40)
        let ok = key.withUnsafeBytes { key in
            sealed.withUnsafeBytes { sealed in plain.withUnsafeMutableBytes { Sodium.open(key: key.baseAddress!, sealed: sealed, output: $0) } }
        }
        try #require(ok)
        let changed = change(plain)
        var resealed = [UInt8](repeating: 0, count: changed.count + 40)
        key.withUnsafeBytes { key in
            sealed.withUnsafeBytes { nonce in
                changed.withUnsafeBytes { changed in
                    resealed.withUnsafeMutableBytes {
                        Sodium.seal(key: key.baseAddress!, nonce: nonce.baseAddress!, plaintext: changed, output: $0)
                    }
                }
            }
        }
        return Array(frame[0..<128]) + Array(Hex.encodeToString(resealed).utf8)
    }

    @Test("an outer layer that is a JSON string with escapes takes the general path, same result both ways")
    func escapedOuterString() throws {
        let json = JSONString.encode("escaped")
        let frame = cipher.seal(json: json)
        #expect(try rewrap(frame) { $0 } == frame)
        // `"` + `\u00XX` for the first hex digit + the rest: valid JSON for the same string.
        let escaped = try rewrap(frame) { Array(#""\u00"#.utf8) + Array(Hex.encodeToString([$0[1]]).utf8) + Array($0[2...]) }
        #expect(openBoth(escaped) == .opened(json))
        // Surrounding whitespace is allowed too.
        #expect(openBoth(try rewrap(frame) { [0x20] + $0 + [0x0A] }) == .opened(json))
    }

    @Test("bad outer plaintexts fail with the same code and message both ways")
    func badOuterPlaintexts() throws {
        let frame = cipher.seal(json: JSONString.encode("x"))
        var plain: [UInt8] = []
        _ = try rewrap(frame) { plain = $0; return $0 }
        try #require(plain.first == 0x22 && plain.count == 2 * (3 + 40) + 2)
        var tamperedInner = plain
        tamperedInner[60] = tamperedInner[60] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        var nonHexTag = plain
        nonHexTag[70] = UInt8(ascii: "z")
        var nonHexNonce = plain
        nonHexNonce[10] = 0xC3
        let cases: [([UInt8], PaddingtonError.Code)] = [
            (Array(plain.dropFirst()), .invalidJSON),                 // no opening quote
            (Array(#""\q""#.utf8), .invalidJSON),                      // unknown escape
            (Array(plain.dropLast(2)) + [0x22], .malformedFrame),     // odd number of hex characters
            (Array(#""00""#.utf8), .malformedFrame),                   // too short for an inner layer
            (nonHexTag, .malformedFrame),                              // not hex inside the string: tag
            (nonHexNonce, .invalidJSON),                               // not UTF-8 inside the string: nonce
            (tamperedInner, .decryptionFailed),                        // inner tag fails
            (Array(plain.prefix(81)) + [0x22], .malformedFrame),       // 40 bytes: no room for a plaintext
            (Array(plain.prefix(83)) + [0x22], .decryptionFailed),     // 41 bytes: a nonce, one byte, a wrong tag
        ]
        for (outer, code) in cases {
            let outcome = openBoth(try rewrap(frame) { _ in outer })
            guard case .failed(let got, _) = outcome else {
                Issue.record("opened: \(String(decoding: outer.prefix(40), as: UTF8.self))")
                continue
            }
            #expect(got == code, "\(String(decoding: outer.prefix(40), as: UTF8.self))")
        }
    }

    @Test("a 4 MiB frame opens on a thread with a 256 KiB stack (the scratch goes to the heap when the stack is short)")
    func smallStack() async {
        let cipher = self.cipher
        let json = JSONString.encode(String(repeating: "s", count: 1 << 20))
        let frame = cipher.seal(json: json)
        let opened: Bool = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: (try? cipher.open(frame)) == json)
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
        #expect(opened)
    }

    @Test("one cipher seals and opens on several threads at once")
    func concurrent() {
        let cipher = self.cipher
        let failures = Locked(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<200 {
                let json = JSONString.encode("thread \(thread) frame \(index) " + String(repeating: "p", count: index * 13))
                let frame = cipher.seal(json: json)
                if (try? cipher.open(frame)) != json { failures.add(1) }
            }
        }
        #expect(failures.value == 0)
    }
}

/// A counter shared by the threads of ``EnvelopeCipherTests/concurrent()``.
final class Locked: @unchecked Sendable {
    private let lock = NSLock()
    private var count: Int
    init(_ count: Int) { self.count = count }
    func add(_ n: Int) { lock.withLock { count += n } }
    var value: Int { lock.withLock { count } }
}
