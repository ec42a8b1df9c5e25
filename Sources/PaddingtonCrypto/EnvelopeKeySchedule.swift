/// Where the envelope's code gets each frame's two layer keys, `HKDF-SHA512(K, S, info)`.
///
/// ``Envelope``'s seal and open are written once against this protocol. ``EnvelopeCipher`` derives
/// from HMAC states it keeps per link; ``PerFrameKeySchedule`` runs the whole HKDF each time, for the
/// handshake, whose keys change at every step.
protocol EnvelopeKeySchedule {
    /// Writes the inner layer's 32-byte key for a 32-byte `info` to `output`.
    func deriveInnerKey(info: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer)
    /// Writes the outer layer's 32-byte key for a 32-byte `info` to `output`.
    func deriveOuterKey(info: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer)
}

/// Full HKDF-SHA512 (extract and expand) per derivation: what the static ``Envelope`` calls use.
///
/// Opening derives the outer key first and the inner key only once the outer layer verifies, so a
/// frame under other keys (the server's trial decryption of frame 1) costs one HKDF, not two.
struct PerFrameKeySchedule: EnvelopeKeySchedule {
    let keys: EnvelopeKeys
    let salts: ConnectionSalts

    func deriveInnerKey(info: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        keys.inner.withUnsafeBytes { ikm in
            salts.inner.withUnsafeBytes { salt in Sodium.hkdfSHA512(ikm: ikm, salt: salt, info: info, output: output) }
        }
    }

    func deriveOuterKey(info: UnsafeRawBufferPointer, into output: UnsafeMutableRawPointer) {
        keys.outer.withUnsafeBytes { ikm in
            salts.outer.withUnsafeBytes { salt in Sodium.hkdfSHA512(ikm: ikm, salt: salt, info: info, output: output) }
        }
    }
}
