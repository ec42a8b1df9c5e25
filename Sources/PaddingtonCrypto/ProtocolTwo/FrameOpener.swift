extension ProtocolTwo {
    /// The receiving half of one direction of a protocol 2 link (`paddington-v2.md` §6).
    ///
    /// Each frame is opened with exactly the next nonce expected, so a replayed, reordered, dropped or
    /// reflected frame (the other direction has another key) fails. After a frame whose type byte has
    /// bit 7 set, the key is rekeyed (Noise `Rekey()`) right after opening; `n` keeps counting.
    ///
    /// Any failure (a frame shorter than 17 bytes, a tag that does not verify, type bits 0–6 other than
    /// 0 and 1, an empty DATA body, the nonce limit) throws and leaves the opener unusable: the key is
    /// dropped and every later call throws ``PaddingtonError/Code-swift.struct/connectionClosed``. The
    /// link must close.
    ///
    /// The value cannot be copied; it holds only the receiving state, apart from the ``FrameSealer``.
    package struct FrameOpener: ~Copyable, Sendable {
        private var cipher: NoiseCipherState
        private var failure: String?
        /// How many times this direction has been rekeyed.
        package private(set) var rekeyCount: UInt64 = 0

        /// An opener with `key` (one output of Noise `Split()`) whose next frame uses nonce `nonce`.
        /// A nonce other than 0 is for tests of the nonce limit.
        package init(key: SecretKey, nonce: UInt64 = 0) {
            cipher = NoiseCipherState(key: key, nonce: nonce)
        }

        /// The nonce the next frame must have been sealed with (the count of frames already opened).
        package var nonce: UInt64 { cipher.nonce }

        /// False once a frame has failed; the opener then refuses everything.
        package var isUsable: Bool { failure == nil }

        /// Opens `frame` in place: on return `frame[0 ..< count − 16]` holds `T ‖ body`, and the body
        /// is `frame[result.body]`. This is the per-frame path: nothing is allocated or copied.
        ///
        /// When it throws, the contents of `frame` are unspecified (libsodium zeroes them on a bad tag).
        ///
        /// - Throws: ``PaddingtonError/Code-swift.struct/malformedFrame`` (shorter than 17 bytes),
        ///   ``PaddingtonError/Code-swift.struct/decryptionFailed`` (tag, hence key, nonce or bytes,
        ///   wrong), ``PaddingtonError/Code-swift.struct/protocolViolation`` (unknown type, empty DATA,
        ///   nonce limit), or ``PaddingtonError/Code-swift.struct/connectionClosed`` (an earlier frame
        ///   failed).
        package mutating func open(inPlace frame: UnsafeMutableRawBufferPointer) throws -> OpenedFrame {
            try open(UnsafeRawBufferPointer(frame), into: frame.count >= Sodium.chachaTagBytes
                ? UnsafeMutableRawBufferPointer(rebasing: frame[0..<(frame.count - Sodium.chachaTagBytes)]) : frame)
        }

        /// Opens `frame` into `plaintext`, which must be `frame.count − 16` bytes (or start at `frame`'s
        /// address, for opening in place); the body is `plaintext[result.body]`.
        ///
        /// - Throws: as ``open(inPlace:)``, and ``PaddingtonError/Code-swift.struct/invalidArgument``
        ///   when `plaintext` has the wrong size (which does not make the opener unusable).
        package mutating func open(_ frame: UnsafeRawBufferPointer, into plaintext: UnsafeMutableRawBufferPointer) throws -> OpenedFrame {
            if let failure {
                throw PaddingtonError(.connectionClosed, "the receiving state is unusable since an earlier frame failed (\(failure))")
            }
            guard frame.count >= minimumFrameCount else {
                throw fail(.malformedFrame, "frame \(cipher.nonce) is \(frame.count) bytes, a protocol 2 frame is at least \(minimumFrameCount) (type and tag)")
            }
            guard plaintext.count == frame.count - Sodium.chachaTagBytes else {
                throw PaddingtonError(
                    .invalidArgument, "a \(frame.count)-byte frame opens into \(frame.count - Sodium.chachaTagBytes) bytes, the buffer has \(plaintext.count)")
            }
            let n = cipher.nonce
            let opened: Bool
            do {
                opened = try cipher.open(ad: UnsafeRawBufferPointer(start: nil, count: 0), sealed: frame, into: plaintext)
            } catch let error as PaddingtonError {
                throw fail(error.code, "frame \(n): \(error.message)")
            }
            guard opened else {
                throw fail(.decryptionFailed, "frame \(n) did not open: wrong key or nonce (replayed, reordered, dropped or reflected) or tampered bytes")
            }
            let typeByte = plaintext.load(fromByteOffset: 0, as: UInt8.self)
            guard let type = FrameType(rawValue: typeByte & ~lastUnderKeyBit) else {
                throw fail(.protocolViolation, "frame \(n) has unknown type \(typeByte & ~lastUnderKeyBit) (0 is DATA, 1 is CONTROL)")
            }
            let body = 1..<plaintext.count
            if type == .data, body.isEmpty {
                throw fail(.protocolViolation, "frame \(n) is a DATA frame with an empty body")
            }
            let last = typeByte & lastUnderKeyBit != 0
            if last {
                cipher.rekey()
                rekeyCount += 1
            }
            return OpenedFrame(type: type, body: body, isLastUnderKey: last)
        }

        /// Opens an array in place: on return `frame[result.body]` is the body.
        ///
        /// - Throws: as ``open(inPlace:)``.
        package mutating func open(_ frame: inout [UInt8]) throws -> OpenedFrame {
            try frame.withUnsafeMutableBytes { try open(inPlace: $0) }
        }

        /// Records the failure, drops the key and returns the error to throw.
        private mutating func fail(_ code: PaddingtonError.Code, _ message: String) -> PaddingtonError {
            failure = message
            cipher.clear()
            return PaddingtonError(code, message)
        }
    }
}
