import NIOHTTP1
import Testing

@testable import Paddington

/// `proxy_header`, believed only from `trusted_proxies`: the rule alone, then through a real proxy.
@Suite("Proxy header")
struct ProxyHeaderTests {
    static let header = "X-Real-IP"
    static let loopback = IPAddress("127.0.0.1")!

    static func headers(_ value: String?) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let value { headers.add(name: header, value: value) }
        return headers
    }

    // MARK: The rule

    @Test("a trusted proxy's header replaces the address; anyone else's is ignored and flagged")
    func rule() throws {
        let rule = ProxyHeaderRule(header: Self.header, trustedProxies: [try IPAllowance(parsing: "127.0.0.0/8")])
        #expect(rule.trusts(Self.loopback))
        #expect(!rule.trusts(IPAddress("10.0.0.1")!))
        let forwarded = try rule.source(of: Self.headers(" 10.1.2.3 "), connectedFrom: Self.loopback)
        #expect(forwarded == .init(ip: IPAddress("10.1.2.3")!, proxy: Self.loopback, ignoredHeader: false))
        #expect(forwarded.description == "10.1.2.3 via 127.0.0.1")
        let v6 = try rule.source(of: Self.headers("fd00::7"), connectedFrom: Self.loopback)
        #expect(v6.ip == IPAddress("fd00::7"))
        let stranger = try rule.source(of: Self.headers("10.1.2.3"), connectedFrom: IPAddress("10.0.0.1")!)
        #expect(stranger == .init(ip: IPAddress("10.0.0.1")!, proxy: nil, ignoredHeader: true))
        let without = try rule.source(of: Self.headers(nil), connectedFrom: Self.loopback)
        #expect(without == .init(ip: Self.loopback, proxy: nil, ignoredHeader: false))
    }

    @Test("a trusted proxy's header that is not a bare IP address is refused, naming it", arguments: [
        "not-an-ip", "10.1.2.3:443", "10.1.2.3, 10.0.0.9", "", String(repeating: "9", count: 5000),
    ])
    func malformed(value: String) throws {
        let rule = ProxyHeaderRule(header: Self.header, trustedProxies: [.address(Self.loopback)])
        let error = #expect(throws: PaddingtonError.self) { try rule.source(of: Self.headers(value), connectedFrom: Self.loopback) }
        #expect(error?.code == .protocolViolation)
        #expect(error?.message.contains("X-Real-IP") == true)
        #expect((error?.message.utf8.count ?? 0) < 300)
    }

    @Test("a trusted proxy that sends the header twice (it appended rather than replaced) is refused: the first copy may be the client's own")
    func twice() throws {
        let rule = ProxyHeaderRule(header: Self.header, trustedProxies: [.address(Self.loopback)])
        var headers = HTTPHeaders()
        headers.add(name: "x-real-ip", value: "10.9.9.9")
        headers.add(name: Self.header, value: "10.1.2.3")
        let error = #expect(throws: PaddingtonError.self) { try rule.source(of: headers, connectedFrom: Self.loopback) }
        #expect(error?.code == .protocolViolation && error?.message.contains("2 times") == true, "\(String(describing: error))")
    }

    @Test("without proxy_header nothing is trusted, whatever trusted_proxies says")
    func noHeaderName() throws {
        let rule = ProxyHeaderRule(header: nil, trustedProxies: [.address(Self.loopback)])
        #expect(!rule.trusts(Self.loopback))
        #expect(try rule.source(of: Self.headers("10.1.2.3"), connectedFrom: Self.loopback).ip == Self.loopback)
    }

    @Test("the configuration reads and writes trusted_proxies, and refuses bad entries naming them")
    func configuration() throws {
        let base = "name = \"s\"\nurl = \"ws://127.0.0.1:6501\"\nip = \"127.0.0.1\"\nport = 6501\nproxy_header = \"X-Real-IP\"\n"
        let config = try ServiceConfiguration.parse(base + "trusted_proxies = [\"10.0.0.5\", \"10.1.0.0/16\"]\n")
        #expect(config.trustedProxies == [try IPAllowance(parsing: "10.0.0.5"), try IPAllowance(parsing: "10.1.0.0/16")])
        #expect(try ServiceConfiguration.parse(config.rendered()) == config)
        for (text, field) in [
            ("trusted_proxies = [\"10.0.0.5\", \"nope\"]\n", "trusted_proxies[1]"),
            ("trusted_proxies = \"10.0.0.5\"\n", "trusted_proxies"),
            ("trusted_proxies = [5]\n", "trusted_proxies[0]"),
        ] {
            let error = #expect(throws: PaddingtonError.self) { try ServiceConfiguration.parse(base + text) }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.contains("'\(field)'") == true, "\(String(describing: error))")
        }
        let badName = #expect(throws: PaddingtonError.self) {
            try ServiceConfiguration.parse(base.replacingOccurrences(of: "X-Real-IP", with: "X Real IP"))
        }
        #expect(badName?.message.contains("proxy_header") == true)
    }

    @Test("a trusted proxy is exempt from the per-address limit (all its clients share its address), not from the pending limit")
    func admission() throws {
        let control = AdmissionControl(maxPending: 3, maxPerAddress: 1)
        let first = try control.admit(Self.loopback).get()
        #expect(throws: PaddingtonError.self) { try control.admit(Self.loopback).get() }
        let second = try control.admit(Self.loopback, perAddressLimit: false).get()
        let third = try control.admit(Self.loopback, perAddressLimit: false).get()
        #expect(throws: PaddingtonError.self) { try control.admit(Self.loopback, perAddressLimit: false).get() }
        _ = (first, second, third)
    }

    // MARK: Through a proxy

    /// A server whose only client may connect from 10.1.2.3, behind a proxy on 127.0.0.1 that adds
    /// `X-Real-IP: forwarded` (or nothing) to the upgrade request.
    struct Setup {
        let server: RunningMesh
        let client: RunningMesh
        let proxy: TamperingProxy

        static func start(trusted: [String], forwarded: String?) async throws -> Setup {
            var config = try serverConfiguration()
            config.proxyHeader = ProxyHeaderTests.header
            config.trustedProxies = try trusted.map { try IPAllowance(parsing: $0) }
            let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "10.1.2.3"))
            let server = RunningMesh(config, options: fastOptions()) { mesh in
                mesh.onMessage { message, context in try await context.reply("ack:\(message.payload)") }
            }
            let port = try await server.mesh.listeningPort()
            var edit: TamperingProxy.HeadEdit = { $0 }
            if let forwarded { edit = TamperingProxy.adding(ProxyHeaderTests.header, forwarded) }
            let proxy = try await TamperingProxy.start(to: port, request: edit)
            let client = RunningMesh(try clientConfiguration(invitation: invitation, port: proxy.port), options: fastOptions())
            return Setup(server: server, client: client, proxy: proxy)
        }

        func stop() async {
            await client.stop()
            await proxy.stop()
            await server.stop()
        }

        func refusal() async throws -> PaddingtonError {
            try await server.recorder.wait(for: "refusal") { $0.failureCode != nil }
            var found: PaddingtonError?
            for event in server.recorder.all {
                if case .handshakeFailed(_, _, let error) = event { found = error; break }
            }
            return try #require(found)
        }
    }

    @Test("behind a trusted proxy, a client is admitted by the address in the header")
    func admittedThroughProxy() async throws {
        let setup = try await Setup.start(trusted: ["127.0.0.1"], forwarded: "10.1.2.3")
        try await setup.client.recorder.wait(for: "connected through the proxy") { $0.isConnected }
        #expect(setup.server.mesh.statistics.handshakes == 1)
        #expect(setup.server.mesh.statistics.proxyHeadersIgnored == 0)
        await setup.stop()
    }

    @Test("the same header from an untrusted address is ignored and counted: refused by its real address")
    func untrusted() async throws {
        let setup = try await Setup.start(trusted: [], forwarded: "10.1.2.3")
        let error = try await setup.refusal()
        #expect(error.code == .ipNotAllowed)
        #expect(error.message.contains("127.0.0.1"))
        #expect(setup.server.mesh.statistics.proxyHeadersIgnored >= 1)
        #expect(setup.server.mesh.statistics.handshakes == 0)
        await setup.stop()
    }

    @Test("a trusted proxy forwarding an address no client may use: refused, naming both")
    func forwardedNotAllowed() async throws {
        let setup = try await Setup.start(trusted: ["127.0.0.0/8"], forwarded: "10.9.9.9")
        let error = try await setup.refusal()
        #expect(error.code == .ipNotAllowed)
        #expect(error.message.contains("10.9.9.9 via 127.0.0.1"))
        await setup.stop()
    }

    @Test("a trusted proxy sending no header: its own address is checked (and refused here)")
    func trustedWithoutHeader() async throws {
        let setup = try await Setup.start(trusted: ["127.0.0.1"], forwarded: nil)
        let error = try await setup.refusal()
        #expect(error.code == .ipNotAllowed)
        #expect(error.message.contains("127.0.0.1"))
        await setup.stop()
    }

    @Test("a trusted proxy sending a header that is not an address: refused as a protocol violation; the service goes on")
    func trustedGarbage() async throws {
        let setup = try await Setup.start(trusted: ["127.0.0.1"], forwarded: "127.0.0.1; drop table")
        let error = try await setup.refusal()
        #expect(error.code == .protocolViolation)
        #expect(error.message.contains("not an IP address"))
        await setup.stop()
    }
}
