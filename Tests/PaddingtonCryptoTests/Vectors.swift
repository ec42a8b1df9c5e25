import Foundation
@testable import PaddingtonCrypto

/// The shared test vectors (`shared/protocol/vectors/paddington-vectors.json`, copied under Fixtures/).
struct Vectors: Decodable {
    struct Inputs: Decodable {
        let psk_inner: String
        let psk_outer: String
        let salt_inner: String
        let salt_outer: String
        let session_outer_key_client: String
        let session_inner_key_server: String
    }
    struct HKDF: Decodable { let ikm, salt, info, okm32: String }
    struct KeyEncrypt: Decodable { let key, nonce, plaintext_utf8, output_hex: String }
    struct Sign: Decodable { let key, message_utf8, tag_hex: String }
    struct ConfigSecret: Decodable { let service_name, value, nonce, output_hex: String }
    struct Step: Decodable {
        let step, inner_key, outer_key, inner_info, outer_info, inner_nonce, outer_nonce, plaintext_json, frame: String
        let frame_len: Int
    }

    let inputs: Inputs
    let hkdf: HKDF
    let key_encrypt: KeyEncrypt
    let sign_blake2b256: Sign
    let from_password: [String: String]
    let config_secret_simple_scheme: ConfigSecret
    let headers: [String: String]
    let transcript: [Step]

    static func load() throws -> Vectors {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let data = try Data(contentsOf: here.appendingPathComponent("Fixtures/paddington-vectors.json"))
        return try JSONDecoder().decode(Vectors.self, from: data)
    }
}

func bytes(_ hex: String) -> [UInt8] {
    guard let value = Hex.decode(hex) else { preconditionFailure("bad hex in test vector: \(hex)") }
    return value
}

func key(_ hex: String) throws -> SecretKey { try SecretKey(hex: hex) }
