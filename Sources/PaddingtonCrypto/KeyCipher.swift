/// `Key::encrypt` / `Key::decrypt` of the Rust crate: `hex(nonce ‖ XChaCha20-Poly1305(json))`.
///
/// The plaintext is always JSON; encrypting the string `Hello` seals the 7 bytes `"Hello"`.
/// Configuration secrets use this format.
package enum KeyCipher {
    /// Seals JSON bytes with a fresh random nonce and returns lowercase hex.
    package static func encrypt(json: [UInt8], key: SecretKey) throws -> String {
        var nonce = [UInt8](repeating: 0, count: Sodium.aeadNonceBytes)
        nonce.withUnsafeMutableBytes { Sodium.randomBytes($0) }
        return try encrypt(json: json, key: key, nonce: nonce)
    }

    /// Seals JSON bytes with the given 24-byte nonce. For tests against fixed vectors.
    package static func encrypt(json: [UInt8], key: SecretKey, nonce: [UInt8]) throws -> String {
        guard !json.isEmpty else {
            throw PaddingtonError(.invalidArgument, "cannot encrypt an empty plaintext")
        }
        precondition(nonce.count == Sodium.aeadNonceBytes)
        var sealed = [UInt8](repeating: 0, count: json.count + Sodium.aeadOverhead)
        key.withUnsafeBytes { key in
            nonce.withUnsafeBytes { nonce in
                json.withUnsafeBytes { plaintext in
                    sealed.withUnsafeMutableBytes { output in
                        Sodium.seal(key: key.baseAddress!, nonce: nonce.baseAddress!, plaintext: plaintext, output: output)
                    }
                }
            }
        }
        return Hex.encodeToString(sealed)
    }

    /// Encrypts a string value (its JSON literal).
    package static func encrypt(string: String, key: SecretKey) throws -> String {
        try encrypt(json: JSONString.encode(string), key: key)
    }

    /// Opens hex produced by ``encrypt(json:key:)`` and returns the JSON bytes.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidHex`` or
    ///   ``PaddingtonError/Code-swift.struct/decryptionFailed``.
    package static func decrypt(hex: String, key: SecretKey) throws -> [UInt8] {
        guard let sealed = Hex.decode(hex) else {
            throw PaddingtonError(.invalidHex, "ciphertext is not hex (\(hex.utf8.count) characters)")
        }
        guard sealed.count > Sodium.aeadOverhead else {
            throw PaddingtonError(.decryptionFailed, "ciphertext is \(sealed.count) bytes, more than 40 are needed")
        }
        var plaintext = [UInt8](repeating: 0, count: sealed.count - Sodium.aeadOverhead)
        let ok = key.withUnsafeBytes { key in
            sealed.withUnsafeBytes { sealed in
                plaintext.withUnsafeMutableBytes { Sodium.open(key: key.baseAddress!, sealed: sealed, output: $0) }
            }
        }
        guard ok else {
            throw PaddingtonError(.decryptionFailed, "authentication tag did not verify (wrong key or tampered data)")
        }
        return plaintext
    }

    /// Opens hex produced by ``encrypt(string:key:)`` and returns the string.
    package static func decryptString(hex: String, key: SecretKey) throws -> String {
        try JSONString.decode(try decrypt(hex: hex, key: key))
    }
}
