extension ProtocolTwo {
    /// An established protocol 2 link: the sending half, the receiving half and the handshake hash.
    ///
    /// The two halves are separate values so that the writer and the reader never share state; take
    /// them apart and give each to its side:
    /// ```swift
    /// let session = try initiator.readMessage2(message2)
    /// let sealer = session.sealer     // to the write path
    /// let opener = session.opener     // to the read path
    /// ```
    /// It is `@frozen` only so that other modules may take it apart like this (Swift allows partial
    /// consumption of a noncopyable value from another module only for a frozen layout).
    @frozen
    package struct Session: ~Copyable, Sendable {
        /// Seals this side's frames, in write order.
        package var sealer: FrameSealer
        /// Opens the peer's frames, in read order.
        package var opener: FrameOpener
        /// Noise's final `h` (32 bytes), equal on both sides: usable as a channel binding. Not secret.
        package let handshakeHash: [UInt8]

        /// Pairs the two halves made by `Split()` for one side of the link.
        package init(sealer: consuming FrameSealer, opener: consuming FrameOpener, handshakeHash: [UInt8]) {
            self.sealer = sealer
            self.opener = opener
            self.handshakeHash = handshakeHash
        }
    }
}
