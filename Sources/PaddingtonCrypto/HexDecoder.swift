import CPaddingtonHex

/// The hex decoder for large inputs (the envelope's ciphertext), chosen once at run time.
///
/// On x86-64 the SSSE3 or AVX2 decoder of the `CPaddingtonHex` target handles whole blocks (32 or 64
/// characters) and ``Hex/decode(_:into:)``, the portable decoder, handles the rest: the tail, and the
/// block where a vector decoder stopped because it held a bad character, so that the reported offset
/// is exact. Elsewhere, or on a CPU without SSSE3, only the portable decoder runs. The binary itself
/// targets baseline x86-64; the vector code is compiled for its instruction set only in its functions.
///
/// ```swift
/// let failure = HexDecoder.selected.decode(hex, into: bytes)     // nil, or the offset of the first bad character
/// ```
package enum HexDecoder: Sendable, CaseIterable, CustomStringConvertible {
    /// ``Hex/decode(_:into:)`` alone: SWAR, eight characters per step.
    case portable
    /// SSSE3, 32 characters per step.
    case ssse3
    /// AVX2, 64 characters per step.
    case avx2

    private static let features = paddington_hex_cpu_features()

    /// The fastest decoder this machine can run, detected once.
    package static let selected: HexDecoder = {
        if HexDecoder.avx2.isAvailable { return .avx2 }
        if HexDecoder.ssse3.isAvailable { return .ssse3 }
        return .portable
    }()

    /// The decoders this machine can run, for tests and the benchmark.
    package static var available: [HexDecoder] { allCases.filter(\.isAvailable) }

    /// Whether this machine can run the decoder.
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
    /// - Precondition: ``isAvailable``; running a vector decoder on a CPU without it would trap.
    @inline(__always)
    package func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(input.count % 2 == 0 && output.count >= input.count / 2)
        guard let source = input.baseAddress, let destination = output.baseAddress else { return nil }
        let done: Int
        switch self {
        case .portable:
            done = 0
        case .ssse3:
            precondition(isAvailable, "this CPU has no SSSE3")
            done = paddington_hex_decode_ssse3(
                source.assumingMemoryBound(to: UInt8.self), input.count, destination.assumingMemoryBound(to: UInt8.self))
        case .avx2:
            precondition(isAvailable, "this CPU has no AVX2")
            done = paddington_hex_decode_avx2(
                source.assumingMemoryBound(to: UInt8.self), input.count, destination.assumingMemoryBound(to: UInt8.self))
        }
        if done == input.count { return nil }
        let rest = Hex.decode(
            UnsafeRawBufferPointer(rebasing: input[done...]),
            into: UnsafeMutableRawBufferPointer(rebasing: output[(done / 2)...]))
        return rest.map { done + $0 }
    }
}
