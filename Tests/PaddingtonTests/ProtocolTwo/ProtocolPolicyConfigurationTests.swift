import Testing
@testable import Paddington
import PaddingtonCrypto

/// `protocol = "auto" | "2" | "1"` in service configuration files, at the top level and in server and
/// client entries (the Rust crate ignores the key).
@Suite("The protocol key in configuration files")
struct ProtocolPolicyConfigurationTests {
    static let inner = "07092caf78098c787d2f7885ecdad2fb8921bab20e8718774ddfe91c05eb88d3"
    static let outer = "91b41bfe3d25f52ff93f87e8c01c781a8a0ac4d0f8b924ea8c515b146763a894"

    /// A configuration with one server and one client; each `protocol` line is left out when nil.
    static func text(top: String? = nil, server: String? = nil, client: String? = nil) -> String {
        func line(_ value: String?) -> String { value.map { "protocol = \($0)\n" } ?? "" }
        return """
            name = "portal"
            url = "ws://127.0.0.1:6501/"
            ip = "127.0.0.1"
            port = 6501
            \(line(top))
            [[servers]]
            name = "upstream"
            url = "ws://10.0.0.1:6502/"
            zone = "default"
            \(line(server))[servers.inner_key]
            data = "\(inner)"
            [servers.outer_key]
            data = "\(outer)"

            [[clients]]
            name = "agent"
            zone = "default"
            \(line(client))[clients.ip]
            IP = "127.0.0.1"
            [clients.inner_key]
            data = "\(inner)"
            [clients.outer_key]
            data = "\(outer)"
            """
    }

    @Test("values at the top level and in entries are read, rendered and read back", arguments: [
        (#""auto""#, ProtocolPolicy.auto), (#""2""#, .require), (#""1""#, .off),
    ])
    func roundTrip(value: String, policy: ProtocolPolicy) throws {
        for (top, server, client) in [(value, nil, nil), (nil, value, nil), (nil, nil, value), (value, value, value)] as [(String?, String?, String?)] {
            let config = try ServiceConfiguration.parse(Self.text(top: top, server: server, client: client))
            #expect(config.protocolPolicy == (top == nil ? .auto : policy))
            #expect(config.servers.first?.protocolPolicy == (server == nil ? nil : policy))
            #expect(config.clients.first?.protocolPolicy == (client == nil ? nil : policy))
            let rendered = config.rendered()
            #expect(try ServiceConfiguration.parse(rendered) == config, "\(rendered)")
        }
    }

    @Test("the rendered key: top level after the listen settings, omitted when auto; in entries after the zone, omitted when unset")
    func rendering() throws {
        let config = try ServiceConfiguration.parse(Self.text(top: #""2""#, server: #""1""#, client: #""auto""#))
        let rendered = config.rendered()
        let lines = rendered.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.filter { $0 == #"protocol = "2""# }.count == 1, "\(rendered)")
        #expect(lines.filter { $0 == #"protocol = "1""# }.count == 1, "\(rendered)")
        #expect(lines.filter { $0 == #"protocol = "auto""# }.count == 1, "an entry's explicit auto is kept: \(rendered)")
        if let top = lines.firstIndex(of: #"protocol = "2""#), let port = lines.firstIndex(of: "port = 6501"),
            let servers = lines.firstIndex(of: "[[servers]]")
        {
            #expect(port < top && top < servers, "\(rendered)")
        } else {
            Issue.record("missing lines: \(rendered)")
        }
        for (entry, value) in [("[[servers]]", #"protocol = "1""#), ("[[clients]]", #"protocol = "auto""#)] {
            guard let start = lines.firstIndex(of: entry), let key = lines[start...].firstIndex(of: value),
                let zone = lines[start...].firstIndex(of: #"zone = "default""#)
            else {
                Issue.record("missing \(entry) or \(value): \(rendered)")
                continue
            }
            #expect(zone < key, "\(entry): \(rendered)")
            #expect(!lines[start..<key].contains { $0.hasPrefix("[") && $0 != entry }, "\(value) belongs to \(entry): \(rendered)")
        }
    }

    @Test("auto at the top level, and unset entries, write no protocol key (the Rust layout)")
    func defaultOmitted() throws {
        let explicit = try ServiceConfiguration.parse(Self.text(top: #""auto""#))
        #expect(explicit.protocolPolicy == .auto)
        #expect(!explicit.rendered().contains("protocol"), "\(explicit.rendered())")
        #expect(explicit.rendered() == (try ServiceConfiguration.parse(Self.text())).rendered())

        var made = try ServiceConfiguration(name: "portal", port: 6501)
        _ = try made.addClient("agent", allowing: try IPAllowance(parsing: "127.0.0.1"))
        #expect(!made.rendered().contains("protocol"))
        made.protocolPolicy = .off
        #expect(made.rendered().contains(#"protocol = "1""#))
        made.protocolPolicy = .auto
        made.clients[0].protocolPolicy = .require
        #expect(made.rendered().contains(#"protocol = "2""#))
        #expect(try ServiceConfiguration.parse(made.rendered()) == made)
    }

    @Test("the names require and off are read as 2 and 1")
    func aliases() throws {
        let config = try ServiceConfiguration.parse(Self.text(top: #""require""#, server: #""off""#))
        #expect(config.protocolPolicy == .require && config.servers.first?.protocolPolicy == .off)
        #expect(config.rendered().contains(#"protocol = "2""#) && config.rendered().contains(#"protocol = "1""#))
    }

    @Test("bad values are refused with the field and the value", arguments: [
        (#""3""#, "'3'"), (#""""#, "not ''"), (#""Auto""#, "'Auto'"), (#"" 2""#, "' 2'"), (#""2 ""#, "'2 '"),
        ("2", "must be a string, not an integer"), ("true", "must be a string"), (#"["2"]"#, "must be a string"), ("{}", "must be a string"),
    ])
    func refused(value: String, text: String) throws {
        for (field, source) in [
            ("protocol", Self.text(top: value)), ("servers[0].protocol", Self.text(server: value)),
            ("clients[0].protocol", Self.text(client: value)),
        ] {
            let error = #expect(throws: PaddingtonError.self) { try ServiceConfiguration.parse(source, source: "portal.toml") }
            #expect(error?.code == .invalidConfiguration)
            let message = error?.message ?? ""
            #expect(message.hasPrefix("portal.toml: field '\(field)' "), "\(message)")
            #expect(message.contains(text), "\(message)")
        }
    }

    @Test("a refused value names the three that are allowed")
    func refusalMessage() throws {
        let error = #expect(throws: PaddingtonError.self) { try ServiceConfiguration.parse(Self.text(client: #""3""#), source: "portal.toml") }
        #expect(error?.message == #"portal.toml: field 'clients[0].protocol' must be "auto", "2" (protocol 2 required) or "1" (protocol 1 only), not '3'"#)
    }
}
