import Testing
@testable import PaddingtonCrypto

@Suite("Shared test vectors")
struct VectorTests {
    let v: Vectors

    init() throws { v = try Vectors.load() }

    var pskKeys: EnvelopeKeys {
        get throws { EnvelopeKeys(inner: try key(v.inputs.psk_inner), outer: try key(v.inputs.psk_outer)) }
    }
    var salts: ConnectionSalts { ConnectionSalts(inner: bytes(v.inputs.salt_inner), outer: bytes(v.inputs.salt_outer)) }

    @Test("TV1 HKDF-SHA512, both layers")
    func hkdf() throws {
        let derived = try key(v.hkdf.ikm).derive(salt: bytes(v.hkdf.salt), info: bytes(v.hkdf.info))
        #expect(derived.exposeHex() == v.hkdf.okm32)
        // The outer-layer value from the spec's §10 (IKM = PSK_outer, salt = Sout, info = Iout).
        let outer = try key(v.inputs.psk_outer).derive(
            salt: bytes(v.inputs.salt_outer),
            info: bytes("55fb89056375c3afe2c60a1ec506506847dc1b59b11b02a85bc645b3c29735ca"))
        #expect(outer.exposeHex() == "658d596b093c2d37b64f4f6aeb45dc0114c589b05e33659f73bc278bf6258432")
    }

    @Test("HKDF with an empty salt equals HKDF with a zero salt (RFC 5869)")
    func hkdfEmptySalt() throws {
        let k = try key(v.inputs.psk_inner)
        let info = bytes(v.hkdf.info)
        #expect(k.derive(salt: [], info: info) == k.derive(salt: [UInt8](repeating: 0, count: 128), info: info))
        #expect(k.derive(salt: [], info: info) != k.derive(salt: [1], info: info))
    }

    @Test("TV2 Key::encrypt and decrypt")
    func keyEncrypt() throws {
        let k = try key(v.key_encrypt.key)
        let out = try KeyCipher.encrypt(json: Array(v.key_encrypt.plaintext_utf8.utf8), key: k, nonce: bytes(v.key_encrypt.nonce))
        #expect(out == v.key_encrypt.output_hex)
        #expect(try KeyCipher.decryptString(hex: v.key_encrypt.output_hex, key: k) == "Hello, World!")
        // Decoding accepts uppercase hex, as the Rust `hex` crate does.
        #expect(try KeyCipher.decryptString(hex: v.key_encrypt.output_hex.uppercased(), key: k) == "Hello, World!")
    }

    @Test("TV3 envelope of \"Hello, World!\" with fixed infos and nonces")
    func envelope() throws {
        let frame = """
            0cf36fad9e4bfd956ce05c4b10de5b0825ad0c5cc64ad5a5ec5cd818be7e62d655fb89056375c3afe2c60a1ec506506847dc1b59b11b02a85bc645b3c29735ca2230bfeca791fefadb4febf1e0785fb671387ef6f4883f6d3167280093cd810e93a3cce6178130dd1b27a6cbb8afad4e996d884020b58136ee6870afc22032a0826d8e7aadf2a8df10a3be0b69a6d7a24c3f50e73302d10fdb186a5703ea418e416fba61b26a59c248c0a0c3e572a56c403544ef59d53cbcfedd9cb84bca78e252c95471a62a6be690b07a1a33cb5c3a10d6ba14a9f5b2ef
            """
        let randomness = Envelope.Randomness(
            infoInner: bytes("0cf36fad9e4bfd956ce05c4b10de5b0825ad0c5cc64ad5a5ec5cd818be7e62d6"),
            infoOuter: bytes("55fb89056375c3afe2c60a1ec506506847dc1b59b11b02a85bc645b3c29735ca"),
            nonceInner: bytes("7f4459863f3d7ae3bf0d43b8a4309372822207459945a710"),
            nonceOuter: bytes("2230bfeca791fefadb4febf1e0785fb671387ef6f4883f6d"))
        let json = JSONString.encode("Hello, World!")
        let sealed = Envelope.seal(json, keys: try pskKeys, salts: salts, randomness: randomness)
        #expect(String(decoding: sealed, as: UTF8.self) == frame)
        #expect(sealed.count == 432)
        #expect(try Envelope.open(Array(frame.utf8), keys: try pskKeys, salts: salts) == json)
        // The same frame through the per-link cipher.
        let cipher = EnvelopeCipher(keys: try pskKeys, salts: salts)
        #expect(String(decoding: cipher.seal(json: json, randomness: randomness), as: UTF8.self) == frame)
        #expect(try cipher.open(Array(frame.utf8)) == json)
    }

    @Test("TV4 masked salt headers")
    func headers() throws {
        let values = salts.maskedHeaderValues(keys: try pskKeys)
        #expect(values.inner == v.headers["openportal-inner-salt"])
        #expect(values.outer == v.headers["openportal-outer-salt"])
        let back = try ConnectionSalts.unmask(innerHeader: values.inner, outerHeader: values.outer, keys: try pskKeys)
        #expect(back == salts)
    }

    @Test("TV5 Key::from_password (Argon2i)", arguments: ["password", "portal"])
    func fromPassword(password: String) throws {
        let derived = try SecretKey.fromPassword(password)
        #expect(derived.exposeHex() == v.from_password[password])
    }

    @Test("from_password refuses an empty password")
    func emptyPassword() {
        #expect { try SecretKey.fromPassword("") } throws: { ($0 as? PaddingtonError)?.code == .invalidArgument }
    }

    @Test("TV6 Key::sign (keyed BLAKE2b-256 over the JSON literal)")
    func sign() throws {
        let k = try key(v.sign_blake2b256.key)
        let signature = k.sign("Hello, World!")
        #expect(signature.description == v.sign_blake2b256.tag_hex)
        #expect(k.verify("Hello, World!", signature: signature))
        #expect(!k.verify("Hello, World?", signature: signature))
        #expect(try Signature(hex: v.sign_blake2b256.tag_hex) == signature)
    }

    @Test("TV7 configuration secret, Simple scheme")
    func configSecret() throws {
        let c = v.config_secret_simple_scheme
        let k = try SecretKey.fromPassword(c.service_name)
        let out = try KeyCipher.encrypt(json: JSONString.encode(c.value), key: k, nonce: bytes(c.nonce))
        #expect(out == c.output_hex)
        #expect(try KeyCipher.decryptString(hex: c.output_hex, key: k) == c.value)
    }

    @Test("TV8 handshake transcript: every frame opens to its JSON and re-seals to its bytes")
    func transcript() throws {
        #expect(v.transcript.count == 6)
        for step in v.transcript {
            let keys = EnvelopeKeys(inner: try key(step.inner_key), outer: try key(step.outer_key))
            let opened = try Envelope.open(Array(step.frame.utf8), keys: keys, salts: salts)
            #expect(String(decoding: opened, as: UTF8.self) == step.plaintext_json, "\(step.step)")
            let randomness = Envelope.Randomness(
                infoInner: bytes(step.inner_info), infoOuter: bytes(step.outer_info),
                nonceInner: bytes(step.inner_nonce), nonceOuter: bytes(step.outer_nonce))
            let sealed = Envelope.seal(Array(step.plaintext_json.utf8), keys: keys, salts: salts, randomness: randomness)
            #expect(sealed.count == step.frame_len, "\(step.step)")
            #expect(String(decoding: sealed, as: UTF8.self) == step.frame, "\(step.step)")
        }
    }

    @Test("TV8 through EnvelopeCipher: every frame opens and re-seals byte for byte")
    func transcriptThroughCipher() throws {
        #expect(v.transcript.count == 6)
        for step in v.transcript {
            let keys = EnvelopeKeys(inner: try key(step.inner_key), outer: try key(step.outer_key))
            let cipher = EnvelopeCipher(keys: keys, salts: salts)
            let frame = Array(step.frame.utf8)
            #expect(String(decoding: try cipher.open(frame), as: UTF8.self) == step.plaintext_json, "\(step.step)")
            #expect(String(decoding: try frame.withUnsafeBytes { try cipher.open($0) }, as: UTF8.self) == step.plaintext_json)
            #expect(try cipher.open(Array(step.frame.uppercased().utf8)) == Array(step.plaintext_json.utf8), "\(step.step)")
            let randomness = Envelope.Randomness(
                infoInner: bytes(step.inner_info), infoOuter: bytes(step.outer_info),
                nonceInner: bytes(step.inner_nonce), nonceOuter: bytes(step.outer_nonce))
            let sealed = cipher.seal(json: Array(step.plaintext_json.utf8), randomness: randomness)
            #expect(sealed.count == step.frame_len, "\(step.step)")
            #expect(sealed.count == EnvelopeCipher.frameCount(jsonCount: step.plaintext_json.utf8.count))
            #expect(String(decoding: sealed, as: UTF8.self) == step.frame, "\(step.step)")
        }
    }

    @Test("HKDF from a prepared state equals the one-shot HKDF (TV1 and the spec's outer value)")
    func preparedHKDF() throws {
        for (ikm, salt, info, okm) in [
            (v.hkdf.ikm, v.hkdf.salt, v.hkdf.info, v.hkdf.okm32),
            (v.inputs.psk_outer, v.inputs.salt_outer, "55fb89056375c3afe2c60a1ec506506847dc1b59b11b02a85bc645b3c29735ca",
             "658d596b093c2d37b64f4f6aeb45dc0114c589b05e33659f73bc278bf6258432"),
        ] {
            let keys = EnvelopeKeys(inner: try key(ikm), outer: try key(ikm))
            let cipher = EnvelopeCipher(keys: keys, salts: ConnectionSalts(inner: bytes(salt), outer: bytes(salt)))
            var inner = [UInt8](repeating: 0, count: 32)
            var outer = [UInt8](repeating: 0, count: 32)
            bytes(info).withUnsafeBytes { info in
                inner.withUnsafeMutableBytes { cipher.deriveInnerKey(info: info, into: $0.baseAddress!) }
                outer.withUnsafeMutableBytes { cipher.deriveOuterKey(info: info, into: $0.baseAddress!) }
            }
            #expect(Hex.encodeToString(inner) == okm)
            #expect(inner == outer)
        }
    }
}
