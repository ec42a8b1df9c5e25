/// A parsed `ws://` or `wss://` URL, normalised the way the Rust crate's `create_websocket_url` does.
///
/// Normalisation: `http`→`ws`, `https`→`wss`, `ws` and `wss` stay, any other scheme becomes `wss`;
/// a missing port is the scheme's default; with the default port the result is `scheme://host` and
/// **the path is dropped**, otherwise it is `scheme://host:port/path` (path `/` when none).
public struct WebSocketURL: Sendable, Hashable, CustomStringConvertible {
    /// True for `wss`: the mesh dials it over TLS, checking the server's certificate for ``host``.
    public var isSecure: Bool
    /// The host name or address, lowercased; an IPv6 address without its brackets.
    public var host: String
    /// The port: the one given, else 80 for `ws` and 443 for `wss`.
    public var port: Int
    /// The path, `/` when none was given (without query or fragment).
    public var path: String

    /// The normalised text, e.g. `ws://localhost:6501/`.
    public var description: String {
        let scheme = isSecure ? "wss" : "ws"
        let hostText = host.contains(":") ? "[\(host)]" : host
        if port == (isSecure ? 443 : 80) {
            return "\(scheme)://\(hostText)"
        }
        return "\(scheme)://\(hostText):\(port)\(path)"
    }

    /// The request target for the upgrade request.
    var requestURI: String { path.isEmpty ? "/" : path }

    /// Parses and normalises `text`.
    ///
    /// - Throws: `PaddingtonError.Code.invalidArgument` naming what is wrong.
    public init(parsing text: String) throws {
        func fail(_ why: String) -> PaddingtonError {
            PaddingtonError(.invalidArgument, "'\(text)' is not a usable URL: \(why)")
        }
        guard let schemeEnd = text.range(of: "://") else { throw fail("it has no scheme (expected ws://host:port)") }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }) else {
            throw fail("the scheme is not valid")
        }
        switch scheme {
        case "ws", "http": isSecure = false
        default: isSecure = true
        }
        var rest = text[schemeEnd.upperBound...]
        // Authority ends at the first '/', '?' or '#'.
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("an IPv6 host has no closing ']'") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw fail("text after the IPv6 host") }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        host = host.lowercased()
        guard !host.isEmpty else { throw fail("it has no host") }
        if authority.hasPrefix("[") {
            guard case .v6? = IPAddress(host) else { throw fail("'[\(host)]' is not an IPv6 address") }
        } else {
            // A DNS name or an IPv4 address: letters, digits, '-', '.' and '_'.
            guard host.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) })
            else { throw fail("the host '\(host)' has characters that are not allowed") }
        }
        if let portText, !portText.isEmpty {
            guard portText.allSatisfy(\.isASCII), let value = Int(portText), (0...65535).contains(value) else {
                throw fail("the port '\(portText)' is not a number from 0 to 65535")
            }
            port = value
        } else {
            port = isSecure ? 443 : 80
        }
        // The path, without query or fragment.
        let pathEnd = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let rawPath = String(rest[..<pathEnd])
        guard !rawPath.contains(where: { $0 == " " || $0.isNewline }) else { throw fail("the path has white space") }
        path = rawPath.isEmpty ? "/" : rawPath
    }
}
