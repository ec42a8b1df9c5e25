import CPaddingtonHex

/// The hex codec for large inputs (the envelope's ciphertext), chosen once at run time.
///
/// On x86-64 the SSSE3 or AVX2 code of the `CPaddingtonHex` target handles whole blocks and
/// ``Hex``, the portable codec, handles the rest: the tail, and, when decoding, the block where a
/// vector decoder stopped because it held a bad character, so that the reported offset is exact.
/// Elsewhere, or on a CPU without SSSE3, only the portable codec runs. The binary itself targets
/// baseline x86-64; the vector code is compiled for its instruction set only in its own functions.
/// Key files and other small inputs keep using ``Hex``.
///
/// ```swift
/// let failure = HexCodec.selected.decode(hex, into: bytes)     // nil, or the offset of the first bad character
/// ```
package enum HexCodec: Sendable, CaseIterable, CustomStringConvertible {
    /// ``Hex`` alone: SIMD encoding, SWAR decoding (eight characters per step).
    case portable
    /// SSSE3: 16 bytes or 32 characters per step.
    case ssse3
    /// AVX2: 32 bytes or 64 characters per step.
    case avx2

    private static let features = paddington_hex_cpu_features()

    /// The fastest codec this machine can run, detected once.
    package static let selected: HexCodec = {
        if HexCodec.avx2.isAvailable { return .avx2 }
        if HexCodec.ssse3.isAvailable { return .ssse3 }
        return .portable
    }()

    /// The codecs this machine can run, for tests and the benchmark.
    package static var available: [HexCodec] { allCases.filter(\.isAvailable) }

    /// Whether this machine can run the codec.
    package var isAvailable: Bool {
        switch self {
        case .portable: return true
        case .ssse3: return Self.features & PADDINGTON_HEX_SSSE3 != 0
        case .avx2: return Self.features & PADDINGTON_HEX_AVX2 != 0
        }
    }

    package var description: String {
        switch self {
        case .portable: return "portable"
        case .ssse3: return "SSSE3"
        case .avx2: return "AVX2"
        }
    }

    /// Decodes hex characters (either case) into `output` (`input.count / 2` bytes). Returns nil on
    /// success or the offset of the first character that is not a hex digit, as
    /// ``Hex/decode(_:into:)`` does. `input.count` must be even, and `output` must not overlap `input`.
    /// After a failure `output` holds unspecified bytes.
    ///
    /// - Precondition: ``isAvailable``; running vector code on a CPU without it would trap.
    @inline(__always)
    package func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(input.count % 2 == 0 && output.count >= input.count / 2)
        guard let source = input.baseAddress, let destination = output.baseAddress else { return nil }
        let from = source.assumingMemoryBound(to: UInt8.self)
        let to = destination.assumingMemoryBound(to: UInt8.self)
        let done: Int
        switch self {
        case .portable:
            done = 0
        case .ssse3:
            precondition(isAvailable, "this CPU has no SSSE3")
            done = paddington_hex_decode_ssse3(from, input.count, to)
        case .avx2:
            precondition(isAvailable, "this CPU has no AVX2")
            done = paddington_hex_decode_avx2(from, input.count, to)
        }
        if done == input.count { return nil }
        let rest = Hex.decode(
            UnsafeRawBufferPointer(rebasing: input[done...]),
            into: UnsafeMutableRawBufferPointer(rebasing: output[(done / 2)...]))
        return rest.map { done + $0 }
    }

    /// Writes `2 * input.count` lowercase hex characters to `output`, as ``Hex/encode(_:into:)`` does.
    ///
    /// In-place expansion is allowed as there: `input` may lie in the upper half of `output`.
    ///
    /// - Precondition: ``isAvailable``; running vector code on a CPU without it would trap.
    @inline(__always)
    package func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= input.count * 2)
        guard let source = input.baseAddress, let destination = output.baseAddress else { return }
        let from = source.assumingMemoryBound(to: UInt8.self)
        let to = destination.assumingMemoryBound(to: UInt8.self)
        let done: Int
        switch self {
        case .portable:
            done = 0
        case .ssse3:
            precondition(isAvailable, "this CPU has no SSSE3")
            done = paddington_hex_encode_ssse3(from, input.count, to)
        case .avx2:
            precondition(isAvailable, "this CPU has no AVX2")
            done = paddington_hex_encode_avx2(from, input.count, to)
        }
        if done == input.count { return }
        Hex.encode(
            UnsafeRawBufferPointer(rebasing: input[done...]),
            into: UnsafeMutableRawBufferPointer(rebasing: output[(2 * done)...]))
    }
}
