/// Who may connect as a client: one address, or a CIDR range of IPv4 or IPv6 addresses.
///
/// In a configuration file it is the Rust crate's externally tagged table: `[clients.ip]` with
/// `IP = "127.0.0.1"`, `Range = "10.0.0.0/24"` or `Range = "fd00:1::/64"`.
///
/// **Matching.** An IPv4 address and its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2)
/// are the same address. Every comparison is made on 128 bits: an IPv4 peer or entry is taken in its
/// mapped form, and an IPv4 range `a.b.c.d/n` is the range `::ffff:a.b.c.d/(96 + n)`. So:
/// * `10.0.0.0/8` admits `10.1.2.3` and `::ffff:10.1.2.3`, and never a native IPv6 peer (the Rust
///   crate compares an IPv6 peer's low 32 bits with an IPv4 range; we do not);
/// * `::ffff:10.0.0.0/104` is the same range as `10.0.0.0/8`, written the IPv6 way (it keeps its
///   spelling in the file);
/// * an IPv6 range admits IPv4 peers only when it covers `::ffff:0:0/96`: `::/0` admits every address,
///   IPv4 included; `fd00::/8` admits no IPv4 address;
/// * `0.0.0.0/0` admits every IPv4 address and no native IPv6 one.
///
/// **Bits after the prefix** are ignored, as the Rust crate's range library does for IPv4:
/// `10.0.0.1/24` admits `10.0.0.0/24`, and `fd00:1::5/64` admits `fd00:1::/64`. The text is kept as
/// written, so a file reads back unchanged.
///
/// The Rust crate reads only IPv4 ranges: a configuration with an IPv6 range cannot be loaded by a Rust
/// service (invitations never contain ranges, so they are not affected).
///
/// Equality compares the written form: `10.0.0.0/8` and `::ffff:10.0.0.0/104` admit the same peers
/// but are not equal.
public struct IPAllowance: Hashable, Sendable, CustomStringConvertible {
    private enum Form: Hashable, Sendable {
        case address(IPAddress)
        case range(network: IPAddress, prefixLength: Int)
    }

    private let form: Form
    /// The network in its 128-bit form with the bits after the prefix cleared; the prefix length in
    /// the 128-bit space (128 for a single address, -1 for a malformed one that admits nobody).
    private let high: UInt64
    private let low: UInt64
    private let bits: Int

    private init(form: Form, address: IPAddress, bits: Int) {
        self.form = form
        guard let value = address.bits128 else {
            // A malformed `.v6` value (not 16 bytes) admits nobody (see `allows`).
            (high, low, self.bits) = (0, 0, -1)
            return
        }
        let mask = Self.mask(bits)
        (high, low, self.bits) = (value.high & mask.high, value.low & mask.low, bits)
    }

    /// Exactly this address (and, for IPv4, its IPv4-mapped IPv6 form, and the reverse).
    public static func address(_ address: IPAddress) -> IPAllowance {
        IPAllowance(form: .address(address), address: address, bits: 128)
    }

    /// Every address whose first `prefixLength` bits equal `network`'s.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` when `prefixLength` is outside
    ///   0...32 for an IPv4 network or 0...128 for an IPv6 one.
    public static func range(network: IPAddress, prefixLength: Int) throws -> IPAllowance {
        let text = "\(network)/\(prefixLength)"
        switch network {
        case .v4:
            guard (0...32).contains(prefixLength) else {
                throw PaddingtonError(.invalidArgument, "'\(text)' has prefix length \(prefixLength); an IPv4 prefix is 0...32")
            }
            return IPAllowance(form: .range(network: network, prefixLength: prefixLength), address: network, bits: 96 + prefixLength)
        case .v6(let bytes):
            guard bytes.count == 16 else {
                throw PaddingtonError(.invalidArgument, "an IPv6 network has 16 bytes, not \(bytes.count)")
            }
            guard (0...128).contains(prefixLength) else {
                throw PaddingtonError(.invalidArgument, "'\(text)' has prefix length \(prefixLength); an IPv6 prefix is 0...128")
            }
            return IPAllowance(form: .range(network: network, prefixLength: prefixLength), address: network, bits: prefixLength)
        }
    }

    /// Parses an address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/24`, `fd00:1::/64`).
    /// The prefix length is decimal digits: at most 2 for IPv4 (as in the Rust crate), 3 for IPv6.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` naming the text and what is wrong.
    public init(parsing text: String) throws {
        if let address = IPAddress(text) {
            self = .address(address)
            return
        }
        guard let slash = text.firstIndex(of: "/") else {
            throw PaddingtonError(
                .invalidArgument,
                "'\(text)' is not an IP address or a range (expected e.g. 127.0.0.1, ::1, 10.0.0.0/24 or fd00::/64)")
        }
        let networkText = String(text[..<slash])
        let prefixText = text[text.index(after: slash)...]
        guard let network = IPAddress(networkText) else {
            throw PaddingtonError(.invalidArgument, "'\(text)' is not a range: '\(networkText)' is not an IPv4 or IPv6 address")
        }
        let isV4: Bool
        if case .v4 = network { isV4 = true } else { isV4 = false }
        let maximumDigits = isV4 ? 2 : 3
        guard !prefixText.isEmpty, prefixText.utf8.count <= maximumDigits,
            prefixText.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let prefixLength = Int(prefixText)
        else {
            throw PaddingtonError(
                .invalidArgument,
                "'\(text)' is not a range: the prefix length after '/' must be 1 to \(maximumDigits) decimal digits (\(isV4 ? "0...32" : "0...128"))")
        }
        self = try .range(network: network, prefixLength: prefixLength)
    }

    /// True when `peer` is allowed.
    public func allows(_ peer: IPAddress) -> Bool {
        guard bits >= 0, let value = peer.bits128 else { return false }
        let mask = Self.mask(bits)
        return value.high & mask.high == high && value.low & mask.low == low
    }

    /// True for a range, false for a single address (`Range` or `IP` in the file).
    var isRange: Bool {
        if case .range = form { return true }
        return false
    }

    /// `127.0.0.1`, `::1`, `10.0.0.0/24` or `fd00:1::/64`, as written (IPv6 in its canonical spelling).
    public var description: String {
        switch form {
        case .address(let address): return address.description
        case .range(let network, let prefixLength): return "\(network)/\(prefixLength)"
        }
    }

    /// The first `bits` bits of 128 set.
    private static func mask(_ bits: Int) -> (high: UInt64, low: UInt64) {
        let high: UInt64 = bits >= 64 ? ~0 : ~0 << (64 - bits)
        let low: UInt64 = bits <= 64 ? 0 : ~0 << (128 - bits)
        return (high, low)
    }
}
