#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address, most significant byte first (`127.0.0.1` is `0x7f00_0001`).
    case v4(UInt32)
    /// An IPv6 address: 16 bytes in network order. Any other length is malformed: it prints as
    /// `<invalid IPv6>` and no ``IPAllowance`` admits it.
    case v6([UInt8])

    /// Parses dotted IPv4 (`127.0.0.1`) or IPv6 text (`::1`). Returns nil for anything else.
    public init?(_ text: String) {
        if text.isEmpty || text.utf8.count > 64 { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: &v6) { Array($0) })
            return
        }
        return nil
    }

    /// The address as IPv4 when it is IPv4 or an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    var asIPv4: UInt32? {
        switch self {
        case .v4(let value): return value
        case .v6(let bytes):
            guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
            return bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    /// The address as 128 bits, IPv4 in its mapped form `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2); nil
    /// for a malformed `.v6` value.
    var bits128: (high: UInt64, low: UInt64)? {
        switch self {
        case .v4(let value): return (0, 0x0000_ffff_0000_0000 | UInt64(value))
        case .v6(let bytes):
            guard bytes.count == 16 else { return nil }
            let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return (high, low)
        }
    }

    /// True for `0.0.0.0` and `::`, the addresses a listener binds to accept on every interface and
    /// that no client can dial.
    var isUnspecified: Bool {
        switch self {
        case .v4(let value): return value == 0
        case .v6(let bytes): return bytes.count == 16 && bytes.allSatisfy { $0 == 0 }
        }
    }

    /// Dotted IPv4 (`127.0.0.1`) or canonical IPv6 (`::1`); `<invalid IPv6>` for a malformed `.v6` value.
    public var description: String {
        switch self {
        case .v4(let value):
            return [24, 16, 8, 0].map { String((value >> $0) & 0xff) }.joined(separator: ".")
        case .v6(let bytes):
            guard bytes.count == 16 else { return "<invalid IPv6>" }
            var storage = in6_addr()
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &storage, &text, socklen_t(text.count)) != nil else {
                return "<invalid IPv6>"
            }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}
