extension ProtocolTwo {
    /// The kind of a transport frame: bits 0–6 of its type byte (`paddington-v2.md` §6).
    package enum FrameType: UInt8, Sendable, Hashable, CustomStringConvertible {
        /// Application payload bytes; never empty.
        case data = 0
        /// A UTF-8 JSON object with one key, the variant name (`PeerDetails`, `Keepalive`, ...).
        case control = 1

        /// `DATA` or `CONTROL`, as the spec names them.
        package var description: String {
            switch self {
            case .data: "DATA"
            case .control: "CONTROL"
            }
        }
    }
}
