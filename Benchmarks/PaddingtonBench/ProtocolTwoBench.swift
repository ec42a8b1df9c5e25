// The protocol 2 crypto micro-benchmark (`v2crypto`): the frame sealer and opener against the raw
// libsodium ChaCha20-Poly1305 (IETF) call on the same bytes, and the Noise handshake against the
// X25519, HMAC-SHA256, SHA-256 and AEAD calls it is made of. Same run, same machine, medians.
import PaddingtonCrypto

struct ProtocolTwoRow {
    var what: String
    var size: Int?
    var valueNs: Double
    var baselineNs: Double
    var baselineName: String
    /// Issue 10's bound on the row's time, in ns, if it sets one.
    var goalNs: Double? = nil

    var overhead: Double { (valueNs - baselineNs) / baselineNs }
}

func protocolTwoCryptoScenario(quick: Bool) throws -> [ProtocolTwoRow] {
    let minimum: Duration = quick ? .milliseconds(20) : .milliseconds(300)
    let repetitions = quick ? 1 : 5
    let key = SecretKey.generate()
    var rows: [ProtocolTwoRow] = []
    let empty = UnsafeRawBufferPointer(start: nil, count: 0)

    for size in [100, 64 * 1024, 1024 * 1024] {
        let body = [UInt8](repeating: 0x78, count: size)
        let plaintext = [UInt8(0)] + body  // T ‖ body, as the raw call sees it
        var frame = [UInt8](repeating: 0, count: ProtocolTwo.frameCount(bodyCount: size))
        var opened = [UInt8](repeating: 0, count: size + 1)
        var sealer = ProtocolTwo.FrameSealer(key: key)
        var counter: UInt64 = 0

        // Seal: the buffer form copies the body in at offset 1, then seals in place.
        let sealInto = measure(minimum: minimum, repetitions: repetitions) {
            body.withUnsafeBytes { body in
                frame.withUnsafeMutableBytes { out in
                    do { try sealer.seal(.data, body: body, isLastUnderKey: false, into: out) } catch { preconditionFailure("\(error)") }
                }
            }
        }
        // Seal in place: the body is already in the frame buffer (re-sealing the same buffer is the same work).
        let sealInPlace = measure(minimum: minimum, repetitions: repetitions) {
            frame.withUnsafeMutableBytes { out in
                do { try sealer.seal(inPlace: out, type: .data, isLastUnderKey: false) } catch { preconditionFailure("\(error)") }
            }
        }
        let rawSeal = measure(minimum: minimum, repetitions: repetitions) {
            key.withUnsafeBytes { k in
                plaintext.withUnsafeBytes { p in
                    frame.withUnsafeMutableBytes {
                        Sodium.chachaPolySeal(key: k.baseAddress!, counter: counter, ad: empty, plaintext: p, output: $0)
                    }
                }
            }
            counter &+= 1
        }

        // Open: one valid frame under nonce 0, opened by a fresh opener each time, into a separate buffer
        // (the raw call decrypts into a separate buffer too).
        var firstSealer = ProtocolTwo.FrameSealer(key: key)
        let valid = try firstSealer.seal(.data, body: body)
        let open = measure(minimum: minimum, repetitions: repetitions) {
            var opener = ProtocolTwo.FrameOpener(key: key)
            valid.withUnsafeBytes { f in
                opened.withUnsafeMutableBytes { out in
                    do { _ = try opener.open(f, into: out) } catch { preconditionFailure("\(error)") }
                }
            }
        }
        let rawOpen = measure(minimum: minimum, repetitions: repetitions) {
            let ok = key.withUnsafeBytes { k in
                valid.withUnsafeBytes { f in
                    opened.withUnsafeMutableBytes { Sodium.chachaPolyOpen(key: k.baseAddress!, counter: 0, ad: empty, sealed: f, output: $0) }
                }
            }
            precondition(ok)
        }
        rows.append(ProtocolTwoRow(what: "seal into buffer", size: size, valueNs: sealInto, baselineNs: rawSeal, baselineName: "AEAD seal"))
        rows.append(ProtocolTwoRow(what: "seal in place", size: size, valueNs: sealInPlace, baselineNs: rawSeal, baselineName: "AEAD seal"))
        rows.append(ProtocolTwoRow(what: "open", size: size, valueNs: open, baselineNs: rawOpen, baselineName: "AEAD open"))
    }

    // The whole handshake, both sides, against its four X25519 operations (two public keys, two DH).
    let psk = SecretKey.generate()
    let prologue = ProtocolTwo.prologue(offer: "2", select: "2")
    let handshake = measure(minimum: minimum, repetitions: repetitions) {
        do {
            var initiator = try NoiseInitiator(psk: psk, prologue: prologue)
            let message1 = try initiator.writeMessage1()
            var responder = try NoiseResponder.open(message1: message1, psk: psk, prologue: prologue)
            let message2 = try responder.writeMessage2()
            let client = try initiator.readMessage2(message2)
            let server = try responder.finish()
            precondition(client.handshakeHash == server.handshakeHash)
        } catch {
            preconditionFailure("\(error)")
        }
    }
    var scalar = [UInt8](repeating: 0, count: 32)
    var point = [UInt8](repeating: 0, count: 32)
    var shared = [UInt8](repeating: 0, count: 32)
    scalar.withUnsafeMutableBytes { Sodium.randomBytes($0) }
    let x25519 = measure(minimum: minimum, repetitions: repetitions) {
        scalar.withUnsafeBytes { s in
            point.withUnsafeMutableBytes { p in
                shared.withUnsafeMutableBytes { out in
                    for _ in 0..<2 {
                        _ = Sodium.x25519PublicKey(privateKey: s.baseAddress!, output: p.baseAddress!)
                        _ = Sodium.x25519(privateKey: s.baseAddress!, publicKey: p.baseAddress!, output: out.baseAddress!)
                    }
                }
            }
        }
    }
    rows.append(ProtocolTwoRow(what: "handshake, both sides", size: nil, valueNs: handshake, baselineNs: x25519, baselineName: "4 × X25519"))

    // Trial decryption of message 1 under wrong PSKs: 7 HMAC-SHA256, 2 SHA-256 and one empty AEAD open
    // per candidate, after a setup paid once per message (the protocol name's hash, the prologue).
    // The cost per candidate is the slope between 1 and 65 candidates.
    var client = try NoiseInitiator(psk: SecretKey.generate(), prologue: prologue)
    let foreign = try client.writeMessage1()
    func trialTime(_ candidates: [SecretKey]) -> Double {
        measure(minimum: minimum, repetitions: repetitions) {
            if let opened = try? NoiseResponder.open(message1: foreign, candidates: candidates, prologue: prologue) {
                preconditionFailure("a wrong PSK opened message 1 (candidate \(opened.candidateIndex))")
            }
        }
    }
    let many = (0..<65).map { _ in SecretKey.generate() }
    let trial = trialTime([psk])
    let perCandidate = (trialTime(many) - trialTime([many[0]])) / Double(many.count - 1)
    var scratch = [UInt8](repeating: 0, count: 64)
    let tag = Array(foreign[32..<48])
    let trialPrimitives = measure(minimum: minimum, repetitions: repetitions) {
        scratch.withUnsafeMutableBytes { s in
            let a = UnsafeMutableRawBufferPointer(rebasing: s[0..<32])
            let b = UnsafeMutableRawBufferPointer(rebasing: s[32..<64])
            for _ in 0..<7 { Sodium.hmacSHA256(key: UnsafeRawBufferPointer(a), UnsafeRawBufferPointer(b), output: b.baseAddress!) }
            for _ in 0..<2 { Sodium.sha256(UnsafeRawBufferPointer(a), UnsafeRawBufferPointer(b), output: a.baseAddress!) }
            let ok = tag.withUnsafeBytes { t in
                Sodium.chachaPolyOpen(
                    key: b.baseAddress!, counter: 0, ad: UnsafeRawBufferPointer(a), sealed: t,
                    output: UnsafeMutableRawBufferPointer(start: nil, count: 0))
            }
            precondition(!ok)
        }
    }
    rows.append(ProtocolTwoRow(what: "message 1, wrong PSK", size: nil, valueNs: trial, baselineNs: trialPrimitives, baselineName: "its primitives"))
    rows.append(ProtocolTwoRow(
        what: "each further candidate", size: nil, valueNs: perCandidate, baselineNs: trialPrimitives, baselineName: "its primitives",
        goalNs: 10_000))
    return rows
}

func runProtocolTwoCrypto(quick: Bool, json: Bool) throws {
    let rows = try protocolTwoCryptoScenario(quick: quick)
    if json {
        let items = rows.map { row in
            "{\"scenario\":\"v2crypto\",\"operation\":\"\(row.what)\",\"size\":\(row.size.map(String.init) ?? "null"),"
                + "\"ns\":\(fixed(row.valueNs, 1)),\"baseline\":\"\(row.baselineName)\",\"baseline_ns\":\(fixed(row.baselineNs, 1)),"
                + "\"overhead\":\(fixed(row.overhead, 3))"
                + (row.goalNs.map { ",\"goal\":\"≤ \(fixed($0 / 1000, 0)) µs\",\"met\":\(row.valueNs <= $0)" } ?? "") + ",\"protocol\":2}"
        }
        print("[" + items.joined(separator: ",") + "]")
        return
    }
    print("v2crypto: protocol 2 frames and handshake against the libsodium calls they make (same run, median of \(quick ? 1 : 5))\n")
    print("  operation                size          µs   baseline            baseline µs   overhead     MB/s   goal")
    for row in rows {
        let megabytes = row.size.map { fixed(Double($0) / row.valueNs * 1e3, 0) } ?? "-"
        print("  " + padRight(row.what, 22) + pad(row.size.map(sizeText) ?? "-", 7)
            + pad(fixed(row.valueNs / 1000, 2), 12) + "   " + padRight(row.baselineName, 16)
            + pad(fixed(row.baselineNs / 1000, 2), 14) + pad(fixed(row.overhead * 100, 1) + "%", 11) + pad(megabytes, 9)
            + (row.goalNs.map { "   ≤ \(fixed($0 / 1000, 0)) µs per candidate: " + (row.valueNs <= $0 ? "met" : "MISSED") } ?? ""))
    }
}

private func padRight(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
