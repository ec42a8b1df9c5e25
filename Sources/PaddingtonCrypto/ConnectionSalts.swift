/// The pair of per-connection HKDF salts a client picks and sends, masked, in the upgrade request.
///
/// The masking crosses the keys: `openportal-inner-salt` carries `Sin ⊕ PSK_outer` and
/// `openportal-outer-salt` carries `Sout ⊕ PSK_inner`. XOR runs over the shorter of the two
/// operands, so a salt parsed from a header may have any length, including zero, as in the Rust crate.
/// Salts are not secret; the masking is obfuscation only.
public struct ConnectionSalts: Sendable, Equatable {
    /// `Sin`, used to derive every inner-layer key on this connection.
    public var inner: [UInt8]
    /// `Sout`, used to derive every outer-layer key on this connection.
    public var outer: [UInt8]

    /// The name of the header that carries the masked inner salt.
    public static let innerHeaderName = "openportal-inner-salt"
    /// The name of the header that carries the masked outer salt.
    public static let outerHeaderName = "openportal-outer-salt"

    public init(inner: [UInt8], outer: [UInt8]) {
        self.inner = inner
        self.outer = outer
    }

    /// Two fresh 32-byte salts from the CSPRNG.
    public static func generate() -> ConnectionSalts {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.withUnsafeMutableBytes { Sodium.randomBytes($0) }
        return ConnectionSalts(inner: Array(bytes[0..<32]), outer: Array(bytes[32..<64]))
    }

    /// The two header values a client sends for these salts and the invitation's keys.
    public func maskedHeaderValues(keys: EnvelopeKeys) -> (inner: String, outer: String) {
        (
            Hex.encodeToString(Self.xor(inner, keys.outer)),
            Hex.encodeToString(Self.xor(outer, keys.inner))
        )
    }

    /// Salts recovered from header values with a candidate client's keys.
    ///
    /// A missing header counts as empty, as in the Rust crate.
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidHex`` naming the header that is not hex.
    public static func unmask(innerHeader: String?, outerHeader: String?, keys: EnvelopeKeys) throws -> ConnectionSalts {
        let masked = try parseHeaders(innerHeader: innerHeader, outerHeader: outerHeader)
        return unmask(masked, keys: keys)
    }

    /// Parses the two header values as hex without unmasking them.
    public static func parseHeaders(innerHeader: String?, outerHeader: String?) throws -> ConnectionSalts {
        guard let inner = Hex.decode(innerHeader ?? "") else {
            throw PaddingtonError(.invalidHex, "header \(innerHeaderName) is not hex")
        }
        guard let outer = Hex.decode(outerHeader ?? "") else {
            throw PaddingtonError(.invalidHex, "header \(outerHeaderName) is not hex")
        }
        return ConnectionSalts(inner: inner, outer: outer)
    }

    /// Unmasks already-parsed header bytes with a candidate client's keys.
    public static func unmask(_ masked: ConnectionSalts, keys: EnvelopeKeys) -> ConnectionSalts {
        ConnectionSalts(inner: xor(masked.inner, keys.outer), outer: xor(masked.outer, keys.inner))
    }

    static func xor(_ salt: [UInt8], _ key: SecretKey) -> [UInt8] {
        key.withUnsafeBytes { key in
            zip(salt, key).map { $0 ^ $1 }
        }
    }
}

/// The two keys of one envelope: the pre-shared keys for the first handshake frames, the session
/// keys afterwards.
public struct EnvelopeKeys: Sendable, Equatable {
    /// `Kin`: the key of the inner layer.
    public var inner: SecretKey
    /// `Kout`: the key of the outer layer.
    public var outer: SecretKey

    public init(inner: SecretKey, outer: SecretKey) {
        self.inner = inner
        self.outer = outer
    }

    /// Two fresh random keys.
    public static func generate() -> EnvelopeKeys {
        EnvelopeKeys(inner: .generate(), outer: .generate())
    }
}
