extension ProtocolTwo {
    /// When a sender marks a frame the last under its key (bit 7 of the type byte), so that both
    /// sides call Noise `Rekey()` on that direction.
    ///
    /// The spec leaves the choice to the sender and suggests 2^20 frames, 1 GiB or 120 s since the
    /// last rekey. Time is passed in by the caller, never read from a clock here, so the decision is a
    /// pure function and testable.
    ///
    /// ```swift
    /// let last = sealer.isRekeyDue(policy, bodyCount: body.count, sinceRekey: clock.now - keyStarted)
    /// try sealer.seal(.data, body: body, isLastUnderKey: last, into: frame)
    /// if last { keyStarted = clock.now }
    /// ```
    package struct RekeyPolicy: Sendable, Hashable {
        /// Mark the frame that makes this many frames under one key.
        package var frames: UInt64
        /// Mark the frame that makes this many plaintext bytes (type byte and body) under one key.
        package var bytes: UInt64
        /// Mark the first frame sent once this much time has passed since the key came into use.
        package var interval: Duration

        /// Thresholds for a key's lifetime; each defaults to the spec's suggestion.
        package init(frames: UInt64 = 1 << 20, bytes: UInt64 = 1 << 30, interval: Duration = .seconds(120)) {
            self.frames = frames
            self.bytes = bytes
            self.interval = interval
        }

        /// The spec's suggestion: 2^20 frames, 1 GiB or 120 s.
        package static let suggested = RekeyPolicy()

        /// Whether the next frame, with `bodyCount` bytes of body, should be the last under the key,
        /// given what the key has already sealed and how long it has been in use.
        package func isDue(framesUnderKey: UInt64, bytesUnderKey: UInt64, bodyCount: Int, sinceRekey: Duration) -> Bool {
            let framesAfter = framesUnderKey == .max ? .max : framesUnderKey + 1
            let (sum, overflow) = bytesUnderKey.addingReportingOverflow(UInt64(max(bodyCount, 0)) + 1)
            let bytesAfter = overflow ? .max : sum
            return framesAfter >= frames || bytesAfter >= bytes || sinceRekey >= interval
        }
    }
}
