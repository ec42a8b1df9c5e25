extension ProtocolTwo {
    /// What ``FrameOpener`` found in one frame. The body is not copied: it is the range `body` of the
    /// buffer the frame was opened into (the frame's own buffer when opened in place).
    package struct OpenedFrame: Sendable, Hashable {
        /// DATA or CONTROL.
        package var type: FrameType
        /// Where the body lies in the opened buffer: always `1 ..< frame.count − 16`.
        package var body: Range<Int>
        /// Whether the sender marked this frame the last under its key (bit 7); the opener has
        /// already rekeyed when it returns.
        package var isLastUnderKey: Bool

        /// A result as ``FrameOpener`` reports it.
        package init(type: FrameType, body: Range<Int>, isLastUnderKey: Bool) {
            self.type = type
            self.body = body
            self.isLastUnderKey = isLastUnderKey
        }
    }
}
