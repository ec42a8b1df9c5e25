extension ProtocolTwo {
    /// The sending half of one direction of a protocol 2 link (`paddington-v2.md` §6).
    ///
    /// Each call seals `ChaCha20-Poly1305(k, nonce n, ad empty, T ‖ body)` and increments `n`; when
    /// the frame is marked the last under its key (bit 7 of `T`), the key is rekeyed (Noise `Rekey()`)
    /// right after sealing, and `n` keeps counting. Frames must be sent in the order they are sealed.
    ///
    /// The value cannot be copied, so no two frames are ever sealed under one nonce. It holds only the
    /// sending state; the receiving half is a separate ``FrameOpener``.
    ///
    /// The buffer forms allocate nothing: ``seal(inPlace:type:isLastUnderKey:)`` seals a body that the
    /// caller already wrote at offset 1 of the frame buffer (libsodium 1.0.18 allows the AEAD's output
    /// to be its input), ``seal(_:body:isLastUnderKey:into:)`` copies the body in first.
    package struct FrameSealer: ~Copyable, Sendable {
        private var cipher: NoiseCipherState
        /// Frames sealed under the current key.
        package private(set) var framesUnderCurrentKey: UInt64 = 0
        /// Plaintext bytes (type byte and body) sealed under the current key.
        package private(set) var bytesUnderCurrentKey: UInt64 = 0
        /// How many times this direction has been rekeyed.
        package private(set) var rekeyCount: UInt64 = 0

        /// A sealer with `key` (one output of Noise `Split()`) whose next frame uses nonce `nonce`.
        /// A nonce other than 0 is for tests of the nonce limit.
        package init(key: SecretKey, nonce: UInt64 = 0) {
            cipher = NoiseCipherState(key: key, nonce: nonce)
        }

        /// The nonce the next frame will use (the count of frames already sealed).
        package var nonce: UInt64 { cipher.nonce }

        /// Whether `policy` says the next frame, with `bodyCount` bytes of body, should be the last
        /// under the current key, `sinceRekey` after the key came into use (the caller's clock).
        package func isRekeyDue(_ policy: RekeyPolicy, bodyCount: Int, sinceRekey: Duration) -> Bool {
            policy.isDue(
                framesUnderKey: framesUnderCurrentKey, bytesUnderKey: bytesUnderCurrentKey,
                bodyCount: bodyCount, sinceRekey: sinceRekey)
        }

        /// Seals a frame in place. `frame` is exactly `1 + body + 16` bytes with the body at
        /// `1 ..< frame.count − 16`; the type byte and the tag positions are overwritten.
        ///
        /// - Throws: ``PaddingtonError/Code-swift.struct/invalidArgument`` for a buffer shorter than 17
        ///   bytes or an empty DATA body (the peer would refuse it), and
        ///   ``PaddingtonError/Code-swift.struct/protocolViolation`` when the nonce has reached
        ///   `2^64 − 1` (every usable nonce is spent: close the link). Nothing changes when it throws.
        package mutating func seal(inPlace frame: UnsafeMutableRawBufferPointer, type: FrameType, isLastUnderKey: Bool) throws {
            guard frame.count >= minimumFrameCount else {
                throw PaddingtonError(
                    .invalidArgument, "a frame buffer is at least \(minimumFrameCount) bytes, got \(frame.count)")
            }
            if let refusal = refusal(type, bodyCount: frame.count - frameOverhead) { throw refusal }
            try sealChecked(frame, type: type, isLastUnderKey: isLastUnderKey)
        }

        /// Seals `body` into `output`, which must be exactly ``ProtocolTwo/frameCount(bodyCount:)``
        /// (`1 + body.count + 16`) bytes. `body` may lie inside `output` (it is moved to offset 1).
        ///
        /// - Throws: as ``seal(inPlace:type:isLastUnderKey:)``, and
        ///   ``PaddingtonError/Code-swift.struct/invalidArgument`` when `output` has the wrong size.
        ///   `output` is untouched when it throws.
        package mutating func seal(
            _ type: FrameType,
            body: UnsafeRawBufferPointer,
            isLastUnderKey: Bool,
            into output: UnsafeMutableRawBufferPointer
        ) throws {
            guard output.count == frameCount(bodyCount: body.count) else {
                throw PaddingtonError(
                    .invalidArgument,
                    "a frame for \(body.count) body bytes is \(frameCount(bodyCount: body.count)) bytes, the buffer has \(output.count)")
            }
            if let refusal = refusal(type, bodyCount: body.count) { throw refusal }
            if let source = body.baseAddress, !body.isEmpty {
                (output.baseAddress! + 1).copyMemory(from: source, byteCount: body.count)  // memmove
            }
            try sealChecked(output, type: type, isLastUnderKey: isLastUnderKey)
        }

        /// Why a frame of this type and body size cannot be sealed now, or nil.
        private func refusal(_ type: FrameType, bodyCount: Int) -> PaddingtonError? {
            if type == .data, bodyCount == 0 {
                return PaddingtonError(.invalidArgument, "a DATA frame must carry at least one byte")
            }
            if cipher.nonce >= NoiseCipherState.reservedNonce {
                return PaddingtonError(
                    .protocolViolation,
                    "cannot seal frame \(cipher.nonce): nonce 2^64 − 1 is reserved and every usable nonce of this direction is spent; the link must close"
                )
            }
            return nil
        }

        /// Writes the type byte, seals `T ‖ body` in place, counts, and rekeys after a last frame.
        private mutating func sealChecked(_ frame: UnsafeMutableRawBufferPointer, type: FrameType, isLastUnderKey: Bool) throws {
            let plaintextCount = frame.count - Sodium.chachaTagBytes
            frame.storeBytes(of: type.rawValue | (isLastUnderKey ? lastUnderKeyBit : 0), toByteOffset: 0, as: UInt8.self)
            try cipher.seal(
                ad: UnsafeRawBufferPointer(start: nil, count: 0),
                plaintext: UnsafeRawBufferPointer(rebasing: frame[0..<plaintextCount]),
                into: frame)
            framesUnderCurrentKey += 1
            bytesUnderCurrentKey &+= UInt64(plaintextCount)
            if isLastUnderKey {
                cipher.rekey()
                framesUnderCurrentKey = 0
                bytesUnderCurrentKey = 0
                rekeyCount += 1
            }
        }

        /// Seals `body` into a new array of `1 + body.count + 16` bytes.
        ///
        /// - Throws: as ``seal(inPlace:type:isLastUnderKey:)``.
        package mutating func seal(_ type: FrameType, body: [UInt8], isLastUnderKey: Bool = false) throws -> [UInt8] {
            var frame = [UInt8](repeating: 0, count: frameCount(bodyCount: body.count))
            try body.withUnsafeBytes { body in
                try frame.withUnsafeMutableBytes { try seal(type, body: body, isLastUnderKey: isLastUnderKey, into: $0) }
            }
            return frame
        }
    }
}
