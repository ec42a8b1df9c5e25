import NIOHTTP1

/// Whose address a connection is checked against when a reverse proxy stands in front of the service:
/// the configuration's `proxy_header`, believed only from `trusted_proxies`.
///
/// As in the Rust crate, the header's first value is a bare IP address that replaces the connection's
/// own for the IP check; a value that is not one refuses the connection. Unlike the crate, a connection
/// from any other address has the header ignored (and counted), since anyone could send it.
package struct ProxyHeaderRule: Sendable {
    /// Where a connection comes from, for the IP check.
    package struct Source: Sendable, Equatable {
        /// The address the clients' allowances are checked against.
        var ip: IPAddress
        /// The trusted proxy it came through, when the header was believed.
        var proxy: IPAddress?
        /// True when the header was present but not believed (the connection is not from a trusted proxy).
        var ignoredHeader: Bool

        /// `10.1.2.3`, or `10.1.2.3 via 127.0.0.1` through a proxy.
        var description: String {
            if let proxy { return "\(ip) via \(proxy)" }
            return ip.description
        }
    }

    /// The header's name, or nil when the service names none.
    package var header: String?
    /// The addresses whose header is believed.
    package var trustedProxies: [IPAllowance]

    package init(header: String?, trustedProxies: [IPAllowance]) {
        self.header = header
        self.trustedProxies = trustedProxies
    }

    /// Whether connections from `address` are a trusted proxy's (which the per-address limit exempts).
    package func trusts(_ address: IPAddress) -> Bool {
        header != nil && trustedProxies.contains { $0.allows(address) }
    }

    /// The source of a connection from `address` whose upgrade request has `headers`.
    ///
    /// - Throws: `PaddingtonError.Code.protocolViolation` when a trusted proxy's header is not an IP address.
    package func source(of headers: HTTPHeaders, connectedFrom address: IPAddress) throws -> Source {
        guard let header, let value = headers.first(name: header) else {
            return Source(ip: address, proxy: nil, ignoredHeader: false)
        }
        guard trusts(address) else { return Source(ip: address, proxy: nil, ignoredHeader: true) }
        // A proxy that appends the header rather than replacing it would pass a client's own first.
        let count = headers[canonicalForm: header].count
        guard count == 1 else {
            throw PaddingtonError(.protocolViolation,
                "the proxy \(address) sent \(header) \(count) times; it must replace the header with the client's address, not add to it")
        }
        let text = String(Substring(value).drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        guard let forwarded = IPAddress(text) else {
            let shown = text.count > 64 ? String(text.prefix(64)) + "…" : text
            throw PaddingtonError(.protocolViolation, "the proxy \(address) sent \(header): '\(shown)', which is not an IP address")
        }
        return Source(ip: forwarded, proxy: address, ignoredHeader: false)
    }
}
