import Testing
@testable import PaddingtonCrypto

/// Transport frames (`paddington-v2.md` §6): what the opener refuses, the nonce limit, rekeying and
/// the buffer forms.
@Suite("Protocol 2 frames")
struct ProtocolTwoFrameTests {
    let v: ProtocolTwoVectors

    init() throws { v = try ProtocolTwoVectors.load() }

    private func vectorFrame(_ index: Int) -> [UInt8] { bytes(v.client_to_server[index].frame) }

    /// A frame of any plaintext `T ‖ body` under `key` and nonce `n`, bypassing the sealer's checks.
    private func rawFrame(_ plaintext: [UInt8], key: SecretKey, nonce: UInt64 = 0) throws -> [UInt8] {
        var cipher = NoiseCipherState(key: key, nonce: nonce)
        return try cipher.encryptWithAd([], plaintext)
    }

    @Test("a replayed frame fails, and the opener then refuses everything")
    func replay() throws {
        let (_, server) = try v.sessions()
        var first = vectorFrame(0)
        _ = try server.opener.open(&first)
        var again = vectorFrame(0)
        expectError(.decryptionFailed, containing: "frame 1 did not open") { _ = try server.opener.open(&again) }
        #expect(server.opener.isUsable == false)
        var next = vectorFrame(1)
        expectError(.connectionClosed, containing: "earlier frame failed") { _ = try server.opener.open(&next) }
    }

    @Test("frames out of order fail")
    func reordered() throws {
        let (_, server) = try v.sessions()
        var second = vectorFrame(1)
        expectError(.decryptionFailed, containing: "frame 0") { _ = try server.opener.open(&second) }
        var first = vectorFrame(0)
        expectError(.connectionClosed) { _ = try server.opener.open(&first) }
    }

    @Test("a dropped frame makes the next one fail")
    func dropped() throws {
        let (_, server) = try v.sessions()
        var first = vectorFrame(0)
        _ = try server.opener.open(&first)
        var third = vectorFrame(2)
        expectError(.decryptionFailed, containing: "frame 1") { _ = try server.opener.open(&third) }
    }

    @Test("a reflected frame (opened with the other direction's key) fails")
    func reflected() throws {
        let (client, server) = try v.sessions()
        var own = vectorFrame(0)
        expectError(.decryptionFailed) { _ = try client.opener.open(&own) }
        var fromServer = bytes(v.server_to_client[0].frame)
        expectError(.decryptionFailed) { _ = try server.opener.open(&fromServer) }
    }

    @Test("a truncated or extended frame fails; under 17 bytes it is malformed")
    func truncated() throws {
        let frame = vectorFrame(1)
        for count in [0, 1, 16] {
            let (_, server) = try v.sessions()
            var short = Array(frame.prefix(count))
            expectError(.malformedFrame, containing: "at least 17") { _ = try server.opener.open(&short) }
            #expect(server.opener.isUsable == false)
        }
        for variant in [Array(frame.dropLast()), Array(frame.dropFirst()), frame + [0], Array(frame.prefix(17))] {
            let (_, server) = try v.sessions()
            var first = vectorFrame(0)
            _ = try server.opener.open(&first)
            var bad = variant
            expectError(.decryptionFailed) { _ = try server.opener.open(&bad) }
        }
    }

    @Test("every single-bit change of a frame fails")
    func tampered() throws {
        let frame = vectorFrame(1)
        let key = randomKey()
        let sealed = try rawFrame(bytes(v.client_to_server[1].plaintext), key: key)
        #expect(sealed.count == frame.count)
        for index in sealed.indices {
            var bad = sealed
            bad[index] ^= 0x10
            var opener = ProtocolTwo.FrameOpener(key: key)
            expectError(.decryptionFailed) { _ = try opener.open(&bad) }
        }
    }

    @Test("unknown types are refused", arguments: [UInt8(2), 3, 0x7F, 0x82, 0xFE, 0xFF])
    func unknownType(type: UInt8) throws {
        let key = randomKey()
        var frame = try rawFrame([type] + Array("{}".utf8), key: key)
        var opener = ProtocolTwo.FrameOpener(key: key)
        expectError(.protocolViolation, containing: "unknown type \(type & 0x7F)") { _ = try opener.open(&frame) }
        let usable = opener.isUsable
        #expect(!usable)
    }

    @Test("the four valid type bytes open", arguments: [UInt8(0x00), 0x01, 0x80, 0x81])
    func validTypes(type: UInt8) throws {
        let key = randomKey()
        var frame = try rawFrame([type, 0x41], key: key)
        var opener = ProtocolTwo.FrameOpener(key: key)
        let opened = try opener.open(&frame)
        #expect(opened.type.rawValue == type & 0x7F)
        #expect(opened.isLastUnderKey == (type & 0x80 != 0))
        #expect(opened.body == 1..<2)
        #expect(frame[1] == 0x41)
        #expect(opener.rekeyCount == (type & 0x80 != 0 ? 1 : 0))
    }

    @Test("an empty DATA body is refused; an empty CONTROL body is left to the codec")
    func emptyBodies() throws {
        for type: UInt8 in [0x00, 0x80] {
            let key = randomKey()
            var frame = try rawFrame([type], key: key)
            var opener = ProtocolTwo.FrameOpener(key: key)
            expectError(.protocolViolation, containing: "empty body") { _ = try opener.open(&frame) }
        }
        let key = randomKey()
        var frame = try rawFrame([0x01], key: key)
        #expect(frame.count == ProtocolTwo.minimumFrameCount)
        var opener = ProtocolTwo.FrameOpener(key: key)
        let opened = try opener.open(&frame)
        #expect(opened.type == .control && opened.body.isEmpty)

        var sealer = ProtocolTwo.FrameSealer(key: key)
        expectError(.invalidArgument, containing: "DATA") { _ = try sealer.seal(.data, body: []) }
        #expect(sealer.nonce == 0)
        #expect(try sealer.seal(.control, body: []).count == 17)
    }

    @Test("the last usable nonce is 2^64 − 2; the sealer and the opener refuse to go further")
    func nonceLimit() throws {
        let key = randomKey()
        var sealer = ProtocolTwo.FrameSealer(key: key, nonce: .max - 1)
        let last = try sealer.seal(.data, body: [1])
        #expect(sealer.nonce == .max)
        var output = [UInt8](repeating: 0xEE, count: 18)
        expectError(.protocolViolation, containing: "every usable nonce") {
            try [UInt8](repeating: 2, count: 1).withUnsafeBytes { body in
                try output.withUnsafeMutableBytes { try sealer.seal(.data, body: body, isLastUnderKey: false, into: $0) }
            }
        }
        #expect(output == [UInt8](repeating: 0xEE, count: 18))  // untouched
        expectError(.protocolViolation) { _ = try sealer.seal(.control, body: [], isLastUnderKey: true) }
        #expect(sealer.nonce == .max)
        #expect(sealer.rekeyCount == 0)

        var opener = ProtocolTwo.FrameOpener(key: key, nonce: .max - 1)
        var frame = last
        _ = try opener.open(&frame)
        var another = try rawFrame([0, 1], key: key, nonce: .max - 1)
        expectError(.protocolViolation, containing: "every nonce") { _ = try opener.open(&another) }
        let usable = opener.isUsable
        #expect(!usable)
    }

    @Test("the rekey bit: both sides rekey that direction, n keeps counting, the old key no longer opens")
    func rekey() throws {
        let key = randomKey()
        var sealer = ProtocolTwo.FrameSealer(key: key)
        var opener = ProtocolTwo.FrameOpener(key: key)
        let first = try sealer.seal(.data, body: [1], isLastUnderKey: true)
        #expect(sealer.rekeyCount == 1 && sealer.nonce == 1)
        let second = try sealer.seal(.data, body: [2])
        let third = try sealer.seal(.data, body: [3], isLastUnderKey: true)
        let fourth = try sealer.seal(.data, body: [4])
        #expect(sealer.rekeyCount == 2 && sealer.nonce == 4)

        // An opener that did not rekey (the old key at the right nonce) cannot open the next frame.
        var stale = ProtocolTwo.FrameOpener(key: key, nonce: 1)
        var copy = second
        expectError(.decryptionFailed) { _ = try stale.open(&copy) }

        for (frame, body) in [(first, UInt8(1)), (second, 2), (third, 3), (fourth, 4)] {
            var buffer = frame
            let opened = try opener.open(&buffer)
            #expect(buffer[opened.body] == [body])
            #expect(opened.isLastUnderKey == (body == 1 || body == 3))
        }
        #expect(opener.rekeyCount == 2 && opener.nonce == 4)
    }

    @Test("Rekey is Noise's: the first 32 bytes of ENCRYPT(k, 2^64 − 1, empty, 32 zero bytes)")
    func rekeyDefinition() throws {
        // Reference value from an independent ChaCha20-Poly1305 (pyca/cryptography), key 00 01 … 1f.
        let key = try SecretKey(bytes: Array(0..<32))
        var rekeyed = NoiseCipherState(key: key, nonce: 7)
        rekeyed.rekey()
        #expect(rekeyed.nonce == 7)
        var reference = NoiseCipherState(
            key: try SecretKey(hex: "50835543a205b22c9323f2022bc4f67d838f90e61d5ccf33c4513e01f85b5042"), nonce: 7)
        #expect(try rekeyed.encryptWithAd([], [1, 2, 3]) == (try reference.encryptWithAd([], [1, 2, 3])))
    }

    @Test("in place and into a buffer give the array form's bytes")
    func bufferForms() throws {
        let key = randomKey()
        let body = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var arraySealer = ProtocolTwo.FrameSealer(key: key)
        var bufferSealer = ProtocolTwo.FrameSealer(key: key)
        var inPlaceSealer = ProtocolTwo.FrameSealer(key: key)
        var opener = ProtocolTwo.FrameOpener(key: key)
        var otherOpener = ProtocolTwo.FrameOpener(key: key)
        for (index, last) in [false, true, false].enumerated() {
            let expected = try arraySealer.seal(.data, body: body, isLastUnderKey: last)
            #expect(expected.count == ProtocolTwo.frameCount(bodyCount: body.count))

            var output = [UInt8](repeating: 0, count: expected.count)
            try body.withUnsafeBytes { body in
                try output.withUnsafeMutableBytes { try bufferSealer.seal(.data, body: body, isLastUnderKey: last, into: $0) }
            }
            #expect(output == expected, "frame \(index) into a buffer")

            var inPlace = [0] + body + [UInt8](repeating: 0, count: 16)
            try inPlace.withUnsafeMutableBytes { try inPlaceSealer.seal(inPlace: $0, type: .data, isLastUnderKey: last) }
            #expect(inPlace == expected, "frame \(index) in place")

            var plaintext = [UInt8](repeating: 0, count: expected.count - 16)
            let opened = try expected.withUnsafeBytes { frame in
                try plaintext.withUnsafeMutableBytes { try opener.open(frame, into: $0) }
            }
            #expect(Array(plaintext[opened.body]) == body)
            #expect(opened.isLastUnderKey == last)

            var frame = expected
            let again = try frame.withUnsafeMutableBytes { try otherOpener.open(inPlace: $0) }
            #expect(again == opened)
            #expect(Array(frame[again.body]) == body)
        }
    }

    @Test("a body already inside the output buffer is moved, not lost")
    func overlappingBody() throws {
        let key = randomKey()
        var sealer = ProtocolTwo.FrameSealer(key: key)
        var reference = ProtocolTwo.FrameSealer(key: key)
        let body = Array("overlapping body bytes".utf8)
        let expected = try reference.seal(.control, body: body)
        var buffer = body + [UInt8](repeating: 0, count: 17)  // the body at offset 0, not 1
        try buffer.withUnsafeMutableBytes { raw in
            try sealer.seal(.control, body: UnsafeRawBufferPointer(rebasing: raw[0..<body.count]), isLastUnderKey: false, into: raw)
        }
        #expect(buffer == expected)
    }

    @Test("wrong buffer sizes are refused without consuming a nonce or breaking the state")
    func bufferSizes() throws {
        let key = randomKey()
        var sealer = ProtocolTwo.FrameSealer(key: key)
        var output = [UInt8](repeating: 0, count: 20)
        expectError(.invalidArgument, containing: "the buffer has 20") {
            try [UInt8](repeating: 1, count: 4).withUnsafeBytes { body in
                try output.withUnsafeMutableBytes { try sealer.seal(.data, body: body, isLastUnderKey: false, into: $0) }
            }
        }
        var tiny = [UInt8](repeating: 0, count: 16)
        expectError(.invalidArgument, containing: "at least 17") {
            try tiny.withUnsafeMutableBytes { try sealer.seal(inPlace: $0, type: .control, isLastUnderKey: false) }
        }
        #expect(sealer.nonce == 0)

        let frame = try sealer.seal(.data, body: [9])
        var opener = ProtocolTwo.FrameOpener(key: key)
        var small = [UInt8](repeating: 0, count: 1)
        expectError(.invalidArgument, containing: "opens into 2 bytes") {
            try frame.withUnsafeBytes { frame in try small.withUnsafeMutableBytes { _ = try opener.open(frame, into: $0) } }
        }
        #expect(opener.isUsable && opener.nonce == 0)
        var copy = frame
        #expect(copy[try opener.open(&copy).body] == [9])
    }

    @Test("a long exchange with random sizes and rekeys in both directions")
    func longExchange() throws {
        let (client, server) = try v.sessions()
        var generator = SystemRandomNumberGenerator()
        var rekeys = 0
        for index in 0..<300 {
            let fromClient = index % 3 != 0
            let count = Int.random(in: 1...2000, using: &generator)
            let body = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let last = index % 17 == 5
            if last { rekeys += 1 }
            let sender = fromClient ? client : server
            let receiver = fromClient ? server : client
            var frame = try sender.sealer.seal(index % 2 == 0 ? .data : .control, body: body, isLastUnderKey: last)
            let opened = try receiver.opener.open(&frame)
            #expect(Array(frame[opened.body]) == body)
            #expect(opened.isLastUnderKey == last)
        }
        #expect(client.sealer.rekeyCount + server.sealer.rekeyCount == UInt64(rekeys))
        #expect(client.sealer.nonce == server.opener.nonce && server.sealer.nonce == client.opener.nonce)
    }

    @Test("the rekey policy: frames, bytes and time since the key came into use")
    func policy() throws {
        let suggested = ProtocolTwo.RekeyPolicy.suggested
        #expect(suggested.frames == 1 << 20 && suggested.bytes == 1 << 30 && suggested.interval == .seconds(120))
        #expect(!suggested.isDue(framesUnderKey: (1 << 20) - 2, bytesUnderKey: 0, bodyCount: 10, sinceRekey: .zero))
        #expect(suggested.isDue(framesUnderKey: (1 << 20) - 1, bytesUnderKey: 0, bodyCount: 10, sinceRekey: .zero))
        #expect(!suggested.isDue(framesUnderKey: 0, bytesUnderKey: (1 << 30) - 12, bodyCount: 10, sinceRekey: .zero))
        #expect(suggested.isDue(framesUnderKey: 0, bytesUnderKey: (1 << 30) - 11, bodyCount: 10, sinceRekey: .zero))
        #expect(suggested.isDue(framesUnderKey: 0, bytesUnderKey: .max, bodyCount: 10, sinceRekey: .zero))
        #expect(!suggested.isDue(framesUnderKey: 0, bytesUnderKey: 0, bodyCount: 10, sinceRekey: .seconds(119)))
        #expect(suggested.isDue(framesUnderKey: 0, bytesUnderKey: 0, bodyCount: 10, sinceRekey: .seconds(120)))

        let policy = ProtocolTwo.RekeyPolicy(frames: 3, bytes: 100, interval: .seconds(1))
        var due: Bool
        var sealer = ProtocolTwo.FrameSealer(key: randomKey())
        due = sealer.isRekeyDue(policy, bodyCount: 10, sinceRekey: .zero)
        #expect(!due)
        _ = try sealer.seal(.data, body: [UInt8](repeating: 1, count: 10))
        _ = try sealer.seal(.data, body: [UInt8](repeating: 1, count: 10))
        #expect(sealer.framesUnderCurrentKey == 2 && sealer.bytesUnderCurrentKey == 22)
        due = sealer.isRekeyDue(policy, bodyCount: 10, sinceRekey: .zero)  // the third frame
        #expect(due)
        _ = try sealer.seal(.data, body: [1], isLastUnderKey: true)
        #expect(sealer.framesUnderCurrentKey == 0 && sealer.bytesUnderCurrentKey == 0)
        due = sealer.isRekeyDue(policy, bodyCount: 10, sinceRekey: .zero)
        #expect(!due)
        due = sealer.isRekeyDue(policy, bodyCount: 99, sinceRekey: .zero)  // 100 bytes with the type byte
        #expect(due)
        due = sealer.isRekeyDue(policy, bodyCount: 1, sinceRekey: .milliseconds(1000))
        #expect(due)
    }
}
