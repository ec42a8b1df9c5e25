/// A 32-byte symmetric key: a pre-shared invitation key, a session key, or a derived key.
///
/// The bytes live in one heap allocation owned by this value. They are zeroed when the last copy
/// is released, compared in constant time, and never printed: `description` and `debugDescription`
/// are redacted. Reach the bytes only through ``withUnsafeBytes(_:)`` or ``exposeHex()``.
///
/// ```swift
/// let key = SecretKey.generate()
/// print(key)                 // SecretKey(<redacted>)
/// ```
public struct SecretKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The size of every key in the protocol.
    public static let byteCount = 32

    final class Storage: @unchecked Sendable {
        // Written once in `init`, read-only afterwards, so sharing across threads is safe.
        let bytes: UnsafeMutableRawBufferPointer

        init() {
            bytes = .allocate(byteCount: SecretKey.byteCount, alignment: 16)
            bytes.initializeMemory(as: UInt8.self, repeating: 0)
        }

        deinit {
            Sodium.memzero(bytes)
            bytes.deallocate()
        }
    }

    let storage: Storage

    private init(storage: Storage) { self.storage = storage }

    /// A fresh key of 32 bytes from the operating system's CSPRNG.
    public static func generate() -> SecretKey {
        let storage = Storage()
        Sodium.randomBytes(storage.bytes)
        return SecretKey(storage: storage)
    }

    /// A key made from exactly 32 bytes.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidKey`` when `bytes` is not 32 bytes long.
    public init(bytes: some Collection<UInt8>) throws {
        guard bytes.count == Self.byteCount else {
            throw PaddingtonError(.invalidKey, "a key must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        let storage = Storage()
        _ = storage.bytes.initializeMemory(as: UInt8.self, from: bytes)
        self.storage = storage
    }

    /// A key from 64 hex characters (either case).
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidKey`` when `hex` is not 64 hex characters.
    public init(hex: String) throws {
        var hex = hex
        let storage = Storage()
        let ok: Bool = hex.withUTF8 { utf8 in
            guard utf8.count == Self.byteCount * 2 else { return false }
            return Hex.decode(UnsafeRawBufferPointer(utf8), into: storage.bytes) == nil
        }
        guard ok else {
            throw PaddingtonError(
                .invalidKey,
                "a key must be \(Self.byteCount * 2) hex characters, got \(hex.utf8.count) characters"
                    + (hex.utf8.count == Self.byteCount * 2 ? " with a non-hex character" : "")
            )
        }
        self.storage = storage
    }

    /// Calls `body` with the key's 32 bytes. Do not let the pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage.bytes))
    }

    /// The key as 64 lowercase hex characters, for writing invitation and configuration files.
    /// This is the only way to see key material as text; never log the result.
    public func exposeHex() -> String {
        withUnsafeBytes { Hex.encodeToString($0) }
    }

    /// True when every byte is zero. The protocol treats such a key as "null" and refuses it.
    public var isNull: Bool {
        withUnsafeBytes { Sodium.isZero($0) }
    }

    public var description: String { "SecretKey(<redacted>)" }
    public var debugDescription: String { description }

    /// Constant-time comparison.
    public static func == (lhs: SecretKey, rhs: SecretKey) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return Sodium.constantTimeEqual(
            UnsafeRawPointer(lhs.storage.bytes.baseAddress!),
            UnsafeRawPointer(rhs.storage.bytes.baseAddress!),
            count: byteCount
        )
    }

    // MARK: - Derivations (crypto.rs semantics)

    /// `Key::derive`: HKDF-SHA512 with this key as input keying material, 32-byte output.
    public func derive(salt: [UInt8], info: [UInt8]) -> SecretKey {
        let storage = Storage()
        withUnsafeBytes { ikm in
            salt.withUnsafeBytes { salt in
                info.withUnsafeBytes { info in
                    Sodium.hkdfSHA512(ikm: ikm, salt: salt, info: info, output: storage.bytes.baseAddress!)
                }
            }
        }
        return SecretKey(storage: storage)
    }

    /// The fixed Argon2i salt of the Rust crate (`crypto.rs`), shared by every deployment.
    static let passwordSalt: [UInt8] = [
        0x3a, 0x7f, 0x1b, 0x4c, 0x5d, 0x6e, 0x2f, 0x8a, 0x9b, 0xac, 0xbd, 0xce, 0xdf, 0xef, 0xf0, 0x01,
    ]

    /// `Key::from_password`: Argon2i (t = 3, m = 8 KiB, p = 1) with the crate's fixed salt.
    ///
    /// This is cheap to brute-force and exists only so that configuration secrets interoperate with
    /// the Rust crate; do not use it to protect anything new.
    ///
    /// - Throws: ``PaddingtonError/Code-swift.struct/invalidArgument`` for an empty password.
    public static func fromPassword(_ password: String) throws -> SecretKey {
        guard !password.isEmpty else {
            throw PaddingtonError(.invalidArgument, "the password must not be empty")
        }
        let storage = Storage()
        var password = password
        let ok = password.withUTF8 { pw in
            passwordSalt.withUnsafeBytes { salt in
                Sodium.argon2i(password: UnsafeRawBufferPointer(pw), salt: salt, output: storage.bytes.baseAddress!)
            }
        }
        guard ok else {
            throw PaddingtonError(.invalidArgument, "Argon2i refused the password")
        }
        return SecretKey(storage: storage)
    }

    /// `Key::sign`: keyed BLAKE2b-256 over the JSON string literal of `text`.
    public func sign(_ text: String) -> Signature {
        let message = JSONString.encode(text)
        var tag = [UInt8](repeating: 0, count: 32)
        withUnsafeBytes { key in
            message.withUnsafeBytes { message in
                tag.withUnsafeMutableBytes { Sodium.blake2b256(key: key, message: message, output: $0.baseAddress!) }
            }
        }
        return Signature(bytes: tag)
    }

    /// `Key::verify`: recomputes the tag and compares in constant time.
    public func verify(_ text: String, signature: Signature) -> Bool {
        let expected = sign(text)
        return expected == signature
    }
}

/// A 32-byte BLAKE2b tag, printed as lowercase hex (the bridge API's `Authorization: OpenPortal <hex>`).
public struct Signature: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// Parses 64 hex characters.
    public init(hex: String) throws {
        guard let bytes = Hex.decode(hex), bytes.count == 32 else {
            throw PaddingtonError(.invalidHex, "a signature must be 64 hex characters")
        }
        self.bytes = bytes
    }

    public var description: String { Hex.encodeToString(bytes) }

    public static func == (lhs: Signature, rhs: Signature) -> Bool {
        guard lhs.bytes.count == rhs.bytes.count else { return false }
        return lhs.bytes.withUnsafeBytes { a in
            rhs.bytes.withUnsafeBytes { b in
                Sodium.constantTimeEqual(a.baseAddress!, b.baseAddress!, count: a.count)
            }
        }
    }
}
