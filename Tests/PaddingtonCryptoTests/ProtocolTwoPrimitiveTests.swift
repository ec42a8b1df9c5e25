import Testing
@testable import PaddingtonCrypto

/// The libsodium wrappers of protocol 2 against published vectors and an independent implementation.
@Suite("Protocol 2 primitives")
struct ProtocolTwoPrimitiveTests {
    private func sha256(_ a: [UInt8], _ b: [UInt8] = []) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        a.withUnsafeBytes { a in b.withUnsafeBytes { b in out.withUnsafeMutableBytes { Sodium.sha256(a, b, output: $0.baseAddress!) } } }
        return out
    }

    private func hmac(key: [UInt8], _ a: [UInt8], _ b: [UInt8] = []) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        key.withUnsafeBytes { k in
            a.withUnsafeBytes { a in b.withUnsafeBytes { b in out.withUnsafeMutableBytes { Sodium.hmacSHA256(key: k, a, b, output: $0.baseAddress!) } } }
        }
        return out
    }

    @Test("SHA-256 (FIPS 180-2 \"abc\"), over two parts")
    func sha() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        #expect(Hex.encodeToString(sha256(Array("abc".utf8))) == abc)
        #expect(Hex.encodeToString(sha256(Array("a".utf8), Array("bc".utf8))) == abc)
    }

    @Test("HMAC-SHA256 (RFC 4231 cases 2 and 6, a 131-byte key) and an empty key")
    func hmacVectors() {
        #expect(Hex.encodeToString(hmac(key: Array("Jefe".utf8), Array("what do ya want ".utf8), Array("for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(Hex.encodeToString(hmac(key: [UInt8](repeating: 0xAA, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
            == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(Hex.encodeToString(hmac(key: [], []))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test("X25519 (RFC 7748 §6.1) and the all-zero refusal")
    func x25519() throws {
        let alice = try key("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        let bob = try key("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        let alicePublic = try NoiseSymmetricState.publicKey(of: alice)
        let bobPublic = try NoiseSymmetricState.publicKey(of: bob)
        #expect(Hex.encodeToString(alicePublic) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        #expect(Hex.encodeToString(bobPublic) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        var shared = [UInt8](repeating: 0, count: 32)
        let ok = alice.withUnsafeBytes { a in
            bobPublic.withUnsafeBytes { b in shared.withUnsafeMutableBytes { Sodium.x25519(privateKey: a.baseAddress!, publicKey: b.baseAddress!, output: $0.baseAddress!) } }
        }
        #expect(ok)
        #expect(Hex.encodeToString(shared) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

        let zero = [UInt8](repeating: 0, count: 32)
        let refused = alice.withUnsafeBytes { a in
            zero.withUnsafeBytes { z in shared.withUnsafeMutableBytes { Sodium.x25519(privateKey: a.baseAddress!, publicKey: z.baseAddress!, output: $0.baseAddress!) } }
        }
        #expect(!refused)
    }

    @Test("ChaCha20-Poly1305 with the Noise nonce 0⁴ ‖ LE64(n), against an independent implementation")
    func noiseNonce() throws {
        // pyca/cryptography: ChaCha20Poly1305(00 01 … 1f).encrypt(0⁴ ‖ LE64(0x0102030405060708), "protocol 2", "associated").
        var cipher = NoiseCipherState(key: try SecretKey(bytes: Array(0..<32)), nonce: 0x0102_0304_0506_0708)
        let sealed = try cipher.encryptWithAd(Array("associated".utf8), Array("protocol 2".utf8))
        #expect(Hex.encodeToString(sealed) == "803bc290c45a857444999289781f00ee72151435444fc5a637df")
        #expect(cipher.nonce == 0x0102_0304_0506_0709)
        var opener = NoiseCipherState(key: try SecretKey(bytes: Array(0..<32)), nonce: 0x0102_0304_0506_0708)
        #expect(try opener.decryptWithAd(Array("associated".utf8), sealed) == Array("protocol 2".utf8))
        var wrongAd = NoiseCipherState(key: try SecretKey(bytes: Array(0..<32)), nonce: 0x0102_0304_0506_0708)
        expectError(.decryptionFailed) { _ = try wrongAd.decryptWithAd(Array("associatee".utf8), sealed) }
        #expect(wrongAd.nonce == 0x0102_0304_0506_0708)  // unchanged after a failure, as Noise says
    }

    @Test("a cipher state without a key passes data through (Noise's EncryptWithAd before any MixKey)")
    func emptyCipherState() throws {
        var cipher = NoiseCipherState()
        let hasKey = cipher.hasKey
        #expect(!hasKey)
        #expect(try cipher.encryptWithAd([1], [2, 3]) == [2, 3])
        #expect(try cipher.decryptWithAd([1], [2, 3]) == [2, 3])
        #expect(cipher.nonce == 0)
    }

    @Test("libsodium seals and opens in place (output == input) exactly as out of place",
          arguments: [0, 1, 15, 16, 63, 64, 65, 255, 256, 257, 1000, 4096, 65_537])
    func inPlace(count: Int) throws {
        let key = try SecretKey(bytes: (0..<32).map { UInt8($0) ^ 0x5C })
        let plaintext = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let ad = Array("ad".utf8)
        var separate = [UInt8](repeating: 0, count: count + 16)
        var inPlace = plaintext + [UInt8](repeating: 0, count: 16)
        key.withUnsafeBytes { k in
            ad.withUnsafeBytes { ad in
                plaintext.withUnsafeBytes { p in
                    separate.withUnsafeMutableBytes {
                        Sodium.chachaPolySeal(key: k.baseAddress!, counter: 9, ad: ad, plaintext: p, output: $0)
                    }
                }
                inPlace.withUnsafeMutableBytes { buffer in
                    Sodium.chachaPolySeal(
                        key: k.baseAddress!, counter: 9, ad: ad,
                        plaintext: UnsafeRawBufferPointer(rebasing: buffer[0..<count]), output: buffer)
                }
            }
        }
        #expect(inPlace == separate)

        var opened = separate
        let ok = key.withUnsafeBytes { k in
            ad.withUnsafeBytes { ad in
                opened.withUnsafeMutableBytes { buffer in
                    Sodium.chachaPolyOpen(
                        key: k.baseAddress!, counter: 9, ad: ad, sealed: UnsafeRawBufferPointer(buffer),
                        output: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
                }
            }
        }
        #expect(ok)
        #expect(Array(opened[0..<count]) == plaintext)

        // A bad tag opened in place: refused, and libsodium zeroes the output region.
        var bad = separate
        bad[count] ^= 1
        let refused = key.withUnsafeBytes { k in
            ad.withUnsafeBytes { ad in
                bad.withUnsafeMutableBytes { buffer in
                    Sodium.chachaPolyOpen(
                        key: k.baseAddress!, counter: 9, ad: ad, sealed: UnsafeRawBufferPointer(buffer),
                        output: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
                }
            }
        }
        #expect(!refused)
        #expect(bad[0..<count].allSatisfy { $0 == 0 })
    }

    @Test("Noise HKDF: outputs chain as HMAC(temp, o1 ‖ 2) and HMAC(temp, o2 ‖ 3)")
    func hkdf() throws {
        let ck = try SecretKey(bytes: [UInt8](repeating: 7, count: 32))
        let ikm = Array("input key material".utf8)
        let (o1, o2, o3) = ikm.withUnsafeBytes { NoiseSymmetricState.hkdf(chainingKey: ck, ikm: $0, outputs: 3) }
        let temp = hmac(key: [UInt8](repeating: 7, count: 32), ikm)
        let e1 = hmac(key: temp, [1])
        let e2 = hmac(key: temp, e1, [2])
        let e3 = hmac(key: temp, e2, [3])
        #expect(o1.exposeHex() == Hex.encodeToString(e1))
        #expect(o2.exposeHex() == Hex.encodeToString(e2))
        #expect(o3?.exposeHex() == Hex.encodeToString(e3))
        let two = ikm.withUnsafeBytes { NoiseSymmetricState.hkdf(chainingKey: ck, ikm: $0, outputs: 2) }
        #expect(two.0 == o1 && two.1 == o2 && two.2 == nil)
    }

    @Test("the initial handshake state hashes the protocol name (36 bytes, longer than 32)")
    func initialState() {
        let state = NoiseSymmetricState(protocolName: ProtocolTwo.noiseProtocolName)
        #expect(state.handshakeHash == sha256(Array(ProtocolTwo.noiseProtocolName.utf8)))
        let short = NoiseSymmetricState(protocolName: "Noise_NN")
        #expect(short.handshakeHash == Array("Noise_NN".utf8) + [UInt8](repeating: 0, count: 24))
    }
}
