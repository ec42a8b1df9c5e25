// The envelope micro-benchmark: the two-layer envelope on one link (JSON string, 2 × HKDF-SHA512
// expand from kept HMAC states, 2 × XChaCha20-Poly1305, 2 × hex) against the raw libsodium calls the
// format needs with the same per-link precomputation, per payload size; and the old static path.
import CSodium
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
    /// The per-link path: one `EnvelopeCipher` for every frame.
    var envelopeNs: Double
    /// The raw libsodium calls with the same per-link precomputation.
    var primitivesNs: Double
    /// The static path (`Envelope.seal/open`: the full HKDF per frame), as before `EnvelopeCipher`.
    var staticNs: Double

    var overhead: Double { (envelopeNs - primitivesNs) / primitivesNs }
    var messagesPerSecond: Double { 1e9 / envelopeNs }
    var megabytesPerSecond: Double { Double(size) * messagesPerSecond / 1e6 }
}

/// The cheapest libsodium calls one frame needs on a link, on preallocated buffers: HMAC-SHA512
/// states keyed with each layer's PRK are made once, as `EnvelopeCipher` does.
final class PrimitivesBaseline {
    let states = UnsafeMutablePointer<crypto_auth_hmacsha512_state>.allocate(capacity: 2)
    let random = UnsafeMutableRawBufferPointer.allocate(byteCount: 112, alignment: 16)
    let derived = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 16)
    let innerPlain: UnsafeMutableRawBufferPointer
    let innerSealed: UnsafeMutableRawBufferPointer
    let outerPlain: UnsafeMutableRawBufferPointer
    let outerSealed: UnsafeMutableRawBufferPointer

    init(keys: EnvelopeKeys, salts: ConnectionSalts, jsonCount j: Int) {
        for (index, (key, salt)) in [(keys.inner, salts.inner), (keys.outer, salts.outer)].enumerated() {
            var prk = [UInt8](repeating: 0, count: 64)
            var state = crypto_auth_hmacsha512_state()
            key.withUnsafeBytes { ikm in
                salt.withUnsafeBytes { salt in
                    _ = crypto_auth_hmacsha512_init(&state, salt.baseAddress!.assumingMemoryBound(to: UInt8.self), salt.count)
                    _ = crypto_auth_hmacsha512_update(&state, ikm.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ikm.count))
                    _ = crypto_auth_hmacsha512_final(&state, &prk)
                }
            }
            _ = crypto_auth_hmacsha512_init(states + index, prk, 64)
        }
        innerPlain = .allocate(byteCount: j, alignment: 16)
        innerPlain.initializeMemory(as: UInt8.self, repeating: 0x78)
        innerSealed = .allocate(byteCount: j + 16, alignment: 16)
        outerPlain = .allocate(byteCount: 2 * (j + 40) + 2, alignment: 16)
        outerPlain.initializeMemory(as: UInt8.self, repeating: 0x61)
        outerSealed = .allocate(byteCount: outerPlain.count + 16, alignment: 16)
        Sodium.randomBytes(random)
        seal()  // valid ciphertexts for `open`
    }

    deinit {
        for buffer in [random, derived, innerPlain, innerSealed, outerPlain, outerSealed] { buffer.deallocate() }
        states.deallocate()
    }

    /// HKDF-SHA512 expand, T(1) = HMAC(PRK, info ‖ 0x01), from a copy of a kept state.
    @inline(__always)
    func expand(_ layer: Int) {
        var state = states[layer]
        let info = random.baseAddress!.assumingMemoryBound(to: UInt8.self) + 32 * layer
        var one: UInt8 = 1
        _ = crypto_auth_hmacsha512_update(&state, info, 32)
        _ = crypto_auth_hmacsha512_update(&state, &one, 1)
        _ = crypto_auth_hmacsha512_final(&state, derived.baseAddress!.assumingMemoryBound(to: UInt8.self) + 64 * layer)
    }

    func key(_ layer: Int) -> UnsafePointer<UInt8> {
        UnsafePointer(derived.baseAddress!.assumingMemoryBound(to: UInt8.self) + 64 * layer)
    }

    func nonce(_ layer: Int) -> UnsafePointer<UInt8> {
        UnsafePointer(random.baseAddress!.assumingMemoryBound(to: UInt8.self) + 64 + 24 * layer)
    }

    /// 112 random bytes, two expands, two seals (the inner plaintext is `j` bytes, the outer `2j + 82`).
    func seal() {
        randombytes_buf(random.baseAddress!, 112)
        expand(0)
        expand(1)
        var written: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            innerSealed.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
            innerPlain.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(innerPlain.count), nil, 0, nil, nonce(0), key(0))
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            outerSealed.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
            outerPlain.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(outerPlain.count), nil, 0, nil, nonce(1), key(1))
    }

    /// Two expands, two opens. Returns whether both verified.
    func open() -> Bool {
        expand(1)
        expand(0)
        var written: UInt64 = 0
        let outer = crypto_aead_xchacha20poly1305_ietf_decrypt(
            outerPlain.baseAddress!.assumingMemoryBound(to: UInt8.self), &written, nil,
            outerSealed.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(outerSealed.count), nil, 0, nonce(1), key(1))
        let inner = crypto_aead_xchacha20poly1305_ietf_decrypt(
            innerPlain.baseAddress!.assumingMemoryBound(to: UInt8.self), &written, nil,
            innerSealed.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(innerSealed.count), nil, 0, nonce(0), key(0))
        return outer == 0 && inner == 0
    }
}

func envelopeScenario(quick: Bool) -> [EnvelopeRow] {
    let keys = EnvelopeKeys.generate()
    let salts = ConnectionSalts.generate()
    let cipher = EnvelopeCipher(keys: keys, salts: salts)
    let minimum: Duration = quick ? .milliseconds(20) : .milliseconds(300)
    let repetitions = quick ? 1 : 5
    var rows: [EnvelopeRow] = []

    for size in [100, 1024, 64 * 1024, 1024 * 1024] {
        let payload = String(repeating: "x", count: size)
        let j = JSONString.encode(payload).count
        let frame = cipher.seal(json: JSONString.encode(payload))

        // The envelope as a link uses it: String payload in, frame bytes out, and back.
        let encode = measure(minimum: minimum, repetitions: repetitions) {
            let sealed = cipher.seal(json: JSONString.encode(payload))
            precondition(sealed.count == frame.count)
        }
        let decode = measure(minimum: minimum, repetitions: repetitions) {
            let opened = try? JSONString.decode(try cipher.open(frame))
            precondition(opened?.utf8.count == size)
        }
        // The same through the static calls, which derive both keys from scratch for every frame.
        let staticEncode = measure(minimum: minimum, repetitions: repetitions) {
            let sealed = Envelope.seal(JSONString.encode(payload), keys: keys, salts: salts)
            precondition(sealed.count == frame.count)
        }
        let staticDecode = measure(minimum: minimum, repetitions: repetitions) {
            let opened = try? JSONString.decode(try Envelope.open(frame, keys: keys, salts: salts))
            precondition(opened?.utf8.count == size)
        }

        let baseline = PrimitivesBaseline(keys: keys, salts: salts, jsonCount: j)
        let sealPrimitives = measure(minimum: minimum, repetitions: repetitions) { baseline.seal() }
        let openPrimitives = measure(minimum: minimum, repetitions: repetitions) { precondition(baseline.open()) }
        rows.append(EnvelopeRow(size: size, direction: "encode", envelopeNs: encode, primitivesNs: sealPrimitives, staticNs: staticEncode))
        rows.append(EnvelopeRow(size: size, direction: "decode", envelopeNs: decode, primitivesNs: openPrimitives, staticNs: staticDecode))
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
                + "\"primitives_ns\":\(fixed(row.primitivesNs, 1)),\"overhead\":\(fixed(row.overhead, 3)),\"static_ns\":\(fixed(row.staticNs, 1)),"
                + "\"messages_per_second\":\(fixed(row.messagesPerSecond, 0)),\"payload_mb_per_second\":\(fixed(row.megabytesPerSecond, 1))}"
        }
        print("[" + items.joined(separator: ",") + "]")
    } else {
        print("envelope on one link (EnvelopeCipher): payload string <-> frame, against the libsodium calls it needs")
        print("with the same per-link HMAC states (same run, median of \(quick ? 1 : 5)); static: Envelope.seal/open, full HKDF per frame")
        print("hex codec for the ciphertext: \(HexCodec.selected)")
        print("goal: overhead beyond the primitives (hex, JSON, allocation) at most 50% of their cost\n")
        print("  size  direction      msg/s   payload MB/s   envelope µs   primitives µs   overhead   goal   static µs")
        for row in rows {
            print(pad(sizeText(row.size), 6) + pad(row.direction, 11) + pad(fixed(row.messagesPerSecond, 0), 11)
                + pad(fixed(row.megabytesPerSecond, 1), 15) + pad(fixed(row.envelopeNs / 1000, 2), 14)
                + pad(fixed(row.primitivesNs / 1000, 2), 16) + pad(fixed(row.overhead * 100, 1) + "%", 11)
                + pad(row.overhead <= 0.5 ? "met" : "MISSED", 7) + pad(fixed(row.staticNs / 1000, 2), 12))
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
    let hexEncode = HexCodec.available.map { codec in
        (codec, measure(minimum: minimum, repetitions: 3) {
            bytes.withUnsafeBytes { input in out.withUnsafeMutableBytes { codec.encode(input, into: $0) } }
        })
    }
    let hexDecode = HexCodec.available.map { codec in
        (codec, measure(minimum: minimum, repetitions: 3) {
            hex.withUnsafeBytes { input in out.withUnsafeMutableBytes { precondition(codec.decode(input, into: $0) == nil) } }
        })
    }
    let jsonEncode = measure(minimum: minimum, repetitions: 3) { _ = JSONString.encode(payload) }
    let jsonDecode = measure(minimum: minimum, repetitions: 3) { _ = try? JSONString.decode(json) }
    print("\ncomponents for a 64 KiB payload:")
    for (codec, ns) in hexEncode {
        let chosen = codec == HexCodec.selected ? ", selected" : ""
        print("  hex encode \(bytes.count) bytes, \(codec)\(chosen): \(fixed(ns / 1000, 1)) µs (\(fixed(ns / Double(bytes.count), 3)) ns/byte)")
    }
    for (codec, ns) in hexDecode {
        let chosen = codec == HexCodec.selected ? ", selected" : ""
        print("  hex decode \(hex.count) chars, \(codec)\(chosen): \(fixed(ns / 1000, 1)) µs (\(fixed(ns / Double(hex.count), 3)) ns/char)")
    }
    print("  JSON string encode: \(fixed(jsonEncode / 1000, 1)) µs, decode: \(fixed(jsonDecode / 1000, 1)) µs")
}
