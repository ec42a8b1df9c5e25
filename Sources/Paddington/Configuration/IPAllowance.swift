#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
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
            guard bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
            return bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) }
        }
    }

    public var description: String {
        switch self {
        case .v4(let value):
            return [24, 16, 8, 0].map { String((value >> $0) & 0xff) }.joined(separator: ".")
        case .v6(var bytes):
            var storage = in6_addr()
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: bytes) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &storage, &text, socklen_t(text.count)) != nil else {
                bytes = []
                return "<invalid IPv6>"
            }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

/// Who may connect as a client: one address, or an IPv4 CIDR range.
///
/// In a configuration file it is the Rust crate's externally tagged table:
/// `[clients.ip]` with `IP = "127.0.0.1"` or `Range = "10.0.0.0/24"`.
///
/// Matching is stricter than the Rust crate: an IPv6 peer never matches an IPv4 range (Rust compares
/// its low 32 bits), and an IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`) is treated as the IPv4 address
/// it carries.
public enum IPAllowance: Hashable, Sendable, CustomStringConvertible {
    /// Exactly this address.
    case address(IPAddress)
    /// Every IPv4 address whose first `prefixLength` bits equal `network`'s.
    case range(network: UInt32, prefixLength: Int)

    /// Parses `127.0.0.1`, `::1` or `10.0.0.0/24` (`0.0.0.0/0` allows every IPv4 address).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidArgument`` naming the text.
    public init(parsing text: String) throws {
        if let address = IPAddress(text) {
            self = .address(address)
            return
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, case .v4(let network)? = IPAddress(String(parts[0])),
            parts[1].count >= 1, parts[1].count <= 2, parts[1].allSatisfy(\.isASCII), let bits = Int(parts[1]),
            (0...32).contains(bits)
        else {
            throw PaddingtonError(
                .invalidArgument,
                "'\(text)' is not an IP address or an IPv4 range (expected e.g. 127.0.0.1, ::1 or 10.0.0.0/24)")
        }
        self = .range(network: network, prefixLength: bits)
    }

    /// True when `peer` is allowed.
    public func allows(_ peer: IPAddress) -> Bool {
        switch self {
        case .address(let address):
            if address == peer { return true }
            if let a = address.asIPv4, let b = peer.asIPv4 { return a == b }
            return false
        case .range(let network, let prefixLength):
            guard let v4 = peer.asIPv4 else { return false }
            let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - prefixLength)
            return v4 & mask == network & mask
        }
    }

    public var description: String {
        switch self {
        case .address(let address): return address.description
        case .range(let network, let prefixLength): return "\(IPAddress.v4(network))/\(prefixLength)"
        }
    }
}
