/// An invitation: what a client needs to connect to a server.
///
/// The server writes one for each client it admits (``ServiceConfiguration/addClient(_:allowing:zone:keys:)``);
/// the client imports it (``ServiceConfiguration/addServer(_:)``). The file is TOML in the Rust crate's
/// layout, byte for byte:
/// ```toml
/// name = "echo-server"
/// url = "ws://localhost:6501/"
/// zone = "default"
///
/// [inner_key]
/// data = "<64 hex characters>"
///
/// [outer_key]
/// data = "<64 hex characters>"
/// ```
/// `name` is the **inviting server's** service name. The file holds both pre-shared keys in plain
/// text: it is written with mode 0600 and must travel over a private channel.
public struct Invitation: Sendable, Equatable, CustomStringConvertible {
    /// The inviting server's service name.
    public var name: String
    /// The server's WebSocket URL, normalised (e.g. `ws://localhost:6501/`).
    public var url: String
    /// The zone the client is admitted to.
    public var zone: String
    /// The two pre-shared keys (`inner_key`, `outer_key`).
    public var keys: EnvelopeKeys

    /// Creates a validated invitation.
    ///
    /// - Throws: `PaddingtonError.Code.invalidInvitation` naming the bad field.
    public init(name: String, url: String, zone: String, keys: EnvelopeKeys) throws {
        if let problem = Names.problem(withName: name) {
            throw PaddingtonError(.invalidInvitation, "field 'name' \(problem)")
        }
        if let problem = Names.problem(withZone: zone) {
            throw PaddingtonError(.invalidInvitation, "field 'zone' \(problem)")
        }
        guard !url.isEmpty else { throw PaddingtonError(.invalidInvitation, "field 'url' must not be empty") }
        guard !keys.inner.isNull, !keys.outer.isNull else {
            throw PaddingtonError(.invalidInvitation, "a key is all zero (a null key)")
        }
        self.name = name
        self.url = url
        self.zone = zone
        self.keys = keys
    }

    /// Parses invitation text. Unknown keys are ignored, as in the Rust crate.
    ///
    /// - Parameters:
    ///   - text: the TOML text of an invitation.
    ///   - source: names the text in error messages (a file path, or `<string>`).
    /// - Throws: `PaddingtonError.Code.invalidInvitation` naming the source and field.
    public static func parse(_ text: String, source: String = "<string>") throws -> Invitation {
        let reader = TOMLReader(source: source, code: .invalidInvitation)
        let root = try reader.parse(text)
        let name = try reader.name(root, "name", path: "name")
        let url = try reader.url(root, "url", path: "url")
        let zone = try reader.zone(root, "zone", path: "zone", default: nil)
        let inner = try reader.key(root, "inner_key", path: "inner_key")
        let outer = try reader.key(root, "outer_key", path: "outer_key")
        return try Invitation(name: name, url: url.description, zone: zone, keys: EnvelopeKeys(inner: inner, outer: outer))
    }

    /// Loads and validates an invitation file.
    public static func load(from path: String) throws -> Invitation {
        try parse(try FileIO.read(path, code: .invalidInvitation), source: path)
    }

    /// The TOML text, in the Rust layout.
    public func rendered() -> String {
        var table = TOML.Table()
        table["name"] = .string(name)
        table["url"] = .string(url)
        table["zone"] = .string(zone)
        table["inner_key"] = .key(keys.inner)
        table["outer_key"] = .key(keys.outer)
        return TOML.render(table)
    }

    /// Writes the invitation with mode 0600, atomically, creating the folder.
    ///
    /// - Parameters:
    ///   - path: the file to write.
    ///   - replacing: false never overwrites: an existing file at `path` is left as it was.
    /// - Throws: `PaddingtonError.Code.fileSystem`, with the message `<path> already
    ///   exists` when `replacing` is false and the file exists.
    public func save(to path: String, replacing: Bool = true) throws {
        try FileIO.writePrivate(rendered(), to: path, replacing: replacing)
    }

    /// The server's name, URL and zone; the keys print as `<redacted>`.
    public var description: String {
        "Invitation(name: \(name), url: \(url), zone: \(zone), keys: <redacted>)"
    }
}
