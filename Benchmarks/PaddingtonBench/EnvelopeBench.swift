// The envelope micro-benchmark: the two-layer envelope (JSON string, 2 × HKDF-SHA512,
// 2 × XChaCha20-Poly1305, 2 × hex) against the raw libsodium primitives alone, per payload size.
#if canImport(Glibc)
import Glibc
#endif
import PaddingtonCrypto


/// Median nanoseconds per call of `body`, over `repetitions` runs of at least `minimum` each.
func measure(minimum: Duration, repetitions: Int, _ body: () -> Void) -> Double {
    // Warm up.
    for _ in 0..<3 { body() }
    var samples: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<repetitions {
        var iterations = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            body()
            iterations += 1
            elapsed = clock.now - start
        } while elapsed < minimum
        let (seconds, attoseconds) = elapsed.components
        samples.append((Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations))
    }
    samples.sort()
    return samples[samples.count / 2]
}

struct EnvelopeRow {
    var size: Int
    var direction: String
    var envelopeNs: Double
    var primitivesNs: Double

    var overhead: Double { (envelopeNs - primitivesNs) / primitivesNs }
    var messagesPerSecond: Double { 1e9 / envelopeNs }
    var megabytesPerSecond: Double { Double(size) * messagesPerSecond / 1e6 }
}

func envelopeScenario(quick: Bool) -> [EnvelopeRow] {
    let keys = EnvelopeKeys.generate()
    let salts = ConnectionSalts.generate()
    let minimum: Duration = quick ? .milliseconds(20) : .milliseconds(300)
    let repetitions = quick ? 1 : 5
    var rows: [EnvelopeRow] = []
    var derived = [UInt8](repeating: 0, count: 64)
    var random = [UInt8](repeating: 0, count: 112)

    for size in [100, 1024, 64 * 1024, 1024 * 1024] {
        let payload = String(repeating: "x", count: size)
        let j = JSONString.encode(payload).count
        let frame = Envelope.seal(JSONString.encode(payload), keys: keys, salts: salts)

        // The envelope as the session layer uses it: String payload in, frame bytes out, and back.
        let encode = measure(minimum: minimum, repetitions: repetitions) {
            let sealed = Envelope.seal(JSONString.encode(payload), keys: keys, salts: salts)
            precondition(sealed.count == frame.count)
        }
        let decode = measure(minimum: minimum, repetitions: repetitions) {
            let opened = try? JSONString.decode(try Envelope.open(frame, keys: keys, salts: salts))
            precondition(opened?.utf8.count == size)
        }

        // The primitives alone on preallocated buffers: randomness, 2 × HKDF, seal j, seal 2j + 82.
        let innerPlain = [UInt8](repeating: 0x78, count: j)
        var innerSealed = [UInt8](repeating: 0, count: j + 40)
        let outerPlain = [UInt8](repeating: 0x61, count: 2 * (j + 40) + 2)
        var outerSealed = [UInt8](repeating: 0, count: outerPlain.count + 40)
        var scratch = [UInt8](repeating: 0, count: outerPlain.count)
        keys.inner.withUnsafeBytes { kin in
            keys.outer.withUnsafeBytes { kout in
                salts.inner.withUnsafeBytes { sin in
                    salts.outer.withUnsafeBytes { sout in
                        func hkdfs(_ info: UnsafeRawBufferPointer, _ out: UnsafeMutableRawBufferPointer) {
                            Sodium.hkdfSHA512(ikm: kin, salt: sin, info: UnsafeRawBufferPointer(rebasing: info[0..<32]), output: out.baseAddress!)
                            Sodium.hkdfSHA512(ikm: kout, salt: sout, info: UnsafeRawBufferPointer(rebasing: info[32..<64]), output: out.baseAddress! + 32)
                        }
                        let sealPrimitives = measure(minimum: minimum, repetitions: repetitions) {
                            random.withUnsafeMutableBytes { random in
                                Sodium.randomBytes(random)
                                derived.withUnsafeMutableBytes { derived in
                                    hkdfs(UnsafeRawBufferPointer(random), derived)
                                    innerPlain.withUnsafeBytes { p in
                                        innerSealed.withUnsafeMutableBytes {
                                            Sodium.seal(key: derived.baseAddress!, nonce: random.baseAddress! + 64, plaintext: p, output: $0)
                                        }
                                    }
                                    outerPlain.withUnsafeBytes { p in
                                        outerSealed.withUnsafeMutableBytes {
                                            Sodium.seal(key: derived.baseAddress! + 32, nonce: random.baseAddress! + 88, plaintext: p, output: $0)
                                        }
                                    }
                                }
                            }
                        }
                        // Valid sealed inputs for the opens.
                        random.withUnsafeMutableBytes { random in
                            Sodium.randomBytes(random)
                            derived.withUnsafeMutableBytes { derived in
                                hkdfs(UnsafeRawBufferPointer(random), derived)
                                innerPlain.withUnsafeBytes { p in
                                    innerSealed.withUnsafeMutableBytes { Sodium.seal(key: derived.baseAddress!, nonce: random.baseAddress! + 64, plaintext: p, output: $0) }
                                }
                                outerPlain.withUnsafeBytes { p in
                                    outerSealed.withUnsafeMutableBytes { Sodium.seal(key: derived.baseAddress! + 32, nonce: random.baseAddress! + 88, plaintext: p, output: $0) }
                                }
                            }
                        }
                        let openPrimitives = measure(minimum: minimum, repetitions: repetitions) {
                            random.withUnsafeBytes { random in
                                derived.withUnsafeMutableBytes { derived in
                                    hkdfs(random, derived)
                                    var ok = outerSealed.withUnsafeBytes { c in
                                        scratch.withUnsafeMutableBytes { Sodium.open(key: derived.baseAddress! + 32, sealed: c, output: $0) }
                                    }
                                    ok = ok && innerSealed.withUnsafeBytes { c in
                                        scratch.withUnsafeMutableBytes {
                                            Sodium.open(key: derived.baseAddress!, sealed: c, output: UnsafeMutableRawBufferPointer(rebasing: $0[0..<j]))
                                        }
                                    }
                                    precondition(ok)
                                }
                            }
                        }
                        rows.append(EnvelopeRow(size: size, direction: "encode", envelopeNs: encode, primitivesNs: sealPrimitives))
                        rows.append(EnvelopeRow(size: size, direction: "decode", envelopeNs: decode, primitivesNs: openPrimitives))
                    }
                }
            }
        }
    }
    return rows
}

func sizeText(_ size: Int) -> String {
    size >= 1 << 20 ? "\(size >> 20) MiB" : size >= 1024 ? "\(size >> 10) KiB" : "\(size) B"
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(rounded)"
    if let dot = text.firstIndex(of: ".") {
        let decimals = text.distance(from: dot, to: text.endIndex) - 1
        if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
    } else if digits > 0 {
        text += "." + String(repeating: "0", count: digits)
    }
    return text
}

func runEnvelope(quick: Bool, json: Bool) {
    let rows = envelopeScenario(quick: quick)
    if json {
        let items = rows.map { row in
            "{\"scenario\":\"envelope\",\"size\":\(row.size),\"direction\":\"\(row.direction)\",\"envelope_ns\":\(fixed(row.envelopeNs, 1)),"
                + "\"primitives_ns\":\(fixed(row.primitivesNs, 1)),\"overhead\":\(fixed(row.overhead, 3)),"
                + "\"messages_per_second\":\(fixed(row.messagesPerSecond, 0)),\"payload_mb_per_second\":\(fixed(row.megabytesPerSecond, 1))}"
        }
        print("[" + items.joined(separator: ",") + "]")
    } else {
        print("envelope: payload string <-> frame, against the libsodium primitives it needs (same run, median of \(quick ? 1 : 5))")
        print("goal: overhead beyond the primitives (hex, JSON, allocation) at most 50% of their cost\n")
        print("  size  direction      msg/s   payload MB/s   envelope µs   primitives µs   overhead   goal")
        for row in rows {
            print(pad(sizeText(row.size), 6) + pad(row.direction, 11) + pad(fixed(row.messagesPerSecond, 0), 11)
                + pad(fixed(row.megabytesPerSecond, 1), 15) + pad(fixed(row.envelopeNs / 1000, 2), 14)
                + pad(fixed(row.primitivesNs / 1000, 2), 16) + pad(fixed(row.overhead * 100, 1) + "%", 11)
                + pad(row.overhead <= 0.5 ? "met" : "MISSED", 7))
        }
    }
}

func runComponents(quick: Bool) {
    // Where the envelope's own time goes for a 64 KiB payload: the pieces it adds to the primitives.
    let minimum: Duration = quick ? .milliseconds(20) : .milliseconds(300)
    let payload = String(repeating: "x", count: 64 * 1024)
    let json = JSONString.encode(payload)
    let bytes = [UInt8](repeating: 0xA5, count: 2 * json.count + 122)
    let hex = Array(Hex.encodeToString(bytes).utf8)
    var out = [UInt8](repeating: 0, count: hex.count)
    let hexEncode = measure(minimum: minimum, repetitions: 3) {
        bytes.withUnsafeBytes { input in out.withUnsafeMutableBytes { Hex.encode(input, into: $0) } }
    }
    let hexDecode = measure(minimum: minimum, repetitions: 3) {
        hex.withUnsafeBytes { input in out.withUnsafeMutableBytes { _ = Hex.decode(input, into: $0) } }
    }
    let jsonEncode = measure(minimum: minimum, repetitions: 3) { _ = JSONString.encode(payload) }
    let jsonDecode = measure(minimum: minimum, repetitions: 3) { _ = try? JSONString.decode(json) }
    print("\ncomponents for a 64 KiB payload:")
    print("  hex encode \(bytes.count) bytes: \(fixed(hexEncode / 1000, 1)) µs (\(fixed(hexEncode / Double(bytes.count), 3)) ns/byte)")
    print("  hex decode \(hex.count) chars: \(fixed(hexDecode / 1000, 1)) µs (\(fixed(hexDecode / Double(hex.count), 3)) ns/char)")
    print("  JSON string encode: \(fixed(jsonEncode / 1000, 1)) µs, decode: \(fixed(jsonDecode / 1000, 1)) µs")
}
