/// The cryptography of paddington protocol 2 (`paddington-v2.md`): the pre-shared key, the Noise
/// prologue, the handshake sizes and the transport frame layout.
///
/// The handshake is `Noise_NNpsk0_25519_ChaChaPoly_SHA256` (``NoiseInitiator`` and ``NoiseResponder``);
/// after it, each direction has one ``FrameSealer`` on the sending side and one ``FrameOpener`` on
/// the receiving side, handed over together as a ``Session``.
///
/// ```swift
/// let psk = ProtocolTwo.psk(from: invitation.keys)
/// let prologue = ProtocolTwo.prologue(offer: "2", select: "2")
/// var client = try NoiseInitiator(psk: psk, prologue: prologue)
/// let message1 = try client.writeMessage1()                  // send, binary, 48 bytes
/// guard var server = try NoiseResponder.open(message1: message1, candidates: [psk], prologue: prologue)
/// else { /* no client holds this key: drop */ }
/// let message2 = try server.writeMessage2()                  // send, binary, 48 bytes
/// let serverSession = try server.finish()
/// let clientSession = try client.readMessage2(message2)
/// ```
package enum ProtocolTwo {
    /// The Noise protocol name, hashed into the initial handshake state.
    package static let noiseProtocolName = "Noise_NNpsk0_25519_ChaChaPoly_SHA256"
    /// The ASCII label HMAC'd with the invitation's inner key to make ``psk(from:)``.
    package static let pskLabel = "openportal-paddington/2 psk"
    /// The first line of every prologue.
    package static let prologuePrefix = "openportal-paddington/2\n"

    /// Noise message 1: `e` (32 bytes) ‖ the tag of the empty payload (16 bytes).
    package static let message1Count = 48
    /// Noise message 2: `e` (32 bytes) ‖ the tag of the empty payload (16 bytes).
    package static let message2Count = 48

    /// Bytes a frame adds to its body: the type byte and the 16-byte tag.
    package static let frameOverhead = 17
    /// The shortest frame: a type byte and a tag (an empty CONTROL body).
    package static let minimumFrameCount = frameOverhead
    /// Bit 7 of the type byte: this frame is the last under the current key of its direction.
    package static let lastUnderKeyBit: UInt8 = 0x80

    /// The size of a frame carrying `bodyCount` bytes of body.
    package static func frameCount(bodyCount: Int) -> Int { bodyCount + frameOverhead }

    /// `psk_v2 = HMAC-SHA256(key = PSK_outer, message = "openportal-paddington/2 psk" ‖ PSK_inner)`.
    ///
    /// The invitation keys never enter Noise directly; rotating them rotates this key.
    package static func psk(from keys: EnvelopeKeys) -> SecretKey {
        var label = pskLabel
        return label.withUTF8 { label in
            keys.outer.withUnsafeBytes { outer in
                keys.inner.withUnsafeBytes { inner in
                    SecretKey { output in
                        Sodium.hmacSHA256(key: outer, UnsafeRawBufferPointer(label), inner, output: output.baseAddress!)
                    }
                }
            }
        }
    }

    /// The Noise prologue for the negotiation headers, as sent and received (after HTTP's stripping
    /// of surrounding whitespace):
    /// `"openportal-paddington/2\n" ‖ "offer=" ‖ OFFER ‖ "\n" ‖ "select=" ‖ SELECT ‖ "\n"`.
    ///
    /// The values are taken byte for byte; a changed header on either side makes message 1 fail.
    package static func prologue(offer: String, select: String) -> [UInt8] {
        Array(prologuePrefix.utf8) + Array("offer=".utf8) + Array(offer.utf8) + [0x0A]
            + Array("select=".utf8) + Array(select.utf8) + [0x0A]
    }
}
