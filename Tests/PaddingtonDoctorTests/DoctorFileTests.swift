import Foundation
import Paddington
import PaddingtonDoctor
import PaddingtonTestSupport
import Testing

/// Modes, owners and contents of the configuration and invitation files, on real files.
@Suite("doctor: files and keys")
struct DoctorFileTests {
    func portal() throws -> ServiceConfiguration {
        try ServiceConfiguration(name: "portal", port: 6501)
    }

    @Test("a private configuration passes; 0644 and 0640 fail with the chmod that fixes them")
    func configurationMode() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let path = try scratch.write(try portal())
        var results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("config.mode")?.status == .pass)
        #expect(results.one("config.owner")?.status == .pass)
        #expect(results.one("config.parse")?.status == .pass)

        try scratch.chmod(path, 0o644)
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("config.mode")?.line == "✘ \(path) is readable by others (mode 0644): run chmod 600 \(path)")
        #expect(!Doctor.healthy(results))

        try scratch.chmod(path, 0o640)
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("config.mode")?.message == "\(path) is readable by its group (mode 0640)")
        try scratch.chmod(path, 0o400)
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("config.mode")?.status == .pass)
        #expect(Doctor.healthy(results))
    }

    @Test("a configuration owned by another user fails with the chown that fixes it", .enabled(if: geteuid() == 0, "chown needs root"))
    func configurationOwner() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let path = try scratch.write(try portal())
        #expect(chown(path, 65534, 65534) == 0)
        let results = await scratch.doctor(checkServers: false).run()
        let owner = try #require(results.one("config.owner"))
        #expect(owner.status == .fail)
        #expect(owner.message.contains("is owned by") && owner.message.contains("65534"))
        #expect(owner.fix == "run chown 0 \(path) as root, or run doctor as the user that runs the service")
    }

    @Test("no configuration file: one failure that says how to make one, and nothing that needs it")
    func missingConfiguration() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let results = await scratch.doctor().run()
        let missing = try #require(results.one("config.file"))
        #expect(missing.line == "✘ \(scratch.configPath) does not exist: create the configuration with `paddington init --config \(scratch.configPath)`, or give its path with --config")
        #expect(results.named("config.parse").isEmpty && results.named("listen").isEmpty)
        #expect(!Doctor.healthy(results))
    }

    @Test("a configuration that does not load names the field: an all-zero key, a short key")
    func unloadable() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        var config = try portal()
        try config.addClient("agent", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let text = config.rendered()
        let key = try #require(text.split(separator: "\"").first { $0.count == 64 })
        try scratch.writeText(text.replacingOccurrences(of: String(key), with: String(repeating: "0", count: 64)), to: scratch.configPath)
        var results = await scratch.doctor().run()
        var parse = try #require(results.one("config.parse"))
        #expect(parse.status == .fail)
        #expect(parse.message.contains("clients[0].inner_key.data' is all zero (a null key)"))
        #expect(results.named("keys").isEmpty && results.named("listen").isEmpty)

        try scratch.writeText(text.replacingOccurrences(of: String(key), with: "abcd"), to: scratch.configPath)
        results = await scratch.doctor().run()
        parse = try #require(results.one("config.parse"))
        #expect(parse.message.contains("must be 64 hex characters (32 bytes), got 4 characters"))

        try scratch.writeText("name = [", to: scratch.configPath)
        results = await scratch.doctor().run()
        #expect(results.one("config.parse")?.message.contains("not valid TOML") == true)
    }

    @Test("keys: the same key as inner and outer, and a key shared by two peers, fail; distinct keys pass")
    func keys() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let anywhere = try IPAllowance(parsing: "127.0.0.1")
        var config = try portal()
        try config.addClient("a", allowing: anywhere)
        try config.addClient("b", allowing: anywhere)
        try scratch.write(config)
        var results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("keys")?.line == "✔ keys: 2 peer(s), each with two well-formed keys (32 bytes, not all zero) of its own")

        let same = SecretKey.generate()
        config.clients[0].keys = EnvelopeKeys(inner: same, outer: same)
        config.clients[1].keys = EnvelopeKeys(inner: .generate(), outer: same)
        try scratch.write(config)
        results = await scratch.doctor(checkServers: false).run()
        let problems = results.named("keys")
        #expect(problems.count == 2)
        #expect(problems.allSatisfy { $0.status == .fail })
        #expect(problems.contains { $0.message == "client a@default uses the same key as inner_key and outer_key" })
        #expect(problems.contains {
            $0.message == "client a@default and client b@default share a key: either could pose as the other"
                && $0.fix == "run `paddington rotate b --zone default --config \(scratch.configPath)` and deliver the new invitation"
        })
        #expect(!results.lines.contains(same.exposeHex()))
    }

    @Test("invitation files: a world-writable folder, a readable file, garbage and stale keys are each reported")
    func invitations() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        var config = try portal()
        let current = try config.addClient("agent", allowing: try IPAllowance(parsing: "127.0.0.1"))
        try scratch.write(config)
        let good = "\(scratch.invitations)/invite_portal_agent_default.toml"
        try current.save(to: good)
        var results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("invitations.folder")?.status == .pass)
        #expect(results.named("invitation.mode").map(\.status) == [.pass])
        #expect(results.one("invitation.keys")?.message == "\(good) is the current invitation of a client of portal")
        #expect(Doctor.healthy(results))

        try scratch.chmod(scratch.invitations, 0o777)
        try scratch.chmod(good, 0o644)
        _ = try config.rotateClientKeys("agent")  // the file now holds old keys
        try scratch.write(config)
        let garbage = "\(scratch.invitations)/broken.toml"
        try scratch.writeText("name = \"portal\"\n", to: garbage)
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("invitations.folder")?.line
            == "✘ \(scratch.invitations)/ is writable by others (mode 0777): anyone could replace an invitation: run chmod go-w \(scratch.invitations)")
        #expect(results.named("invitation.mode").contains { $0.line == "✘ \(good) is readable by others (mode 0644): run chmod 600 \(good)" })
        let stale = try #require(results.named("invitation.keys").first { $0.subject == good })
        #expect(stale.status == .warning)
        #expect(stale.message == "\(good) holds keys no client of portal has any more (rotated or removed)")
        let broken = try #require(results.one("invitation.parse"))
        #expect(broken.status == .fail && broken.subject == garbage && broken.message.contains("is not a valid invitation"))
        #expect(results.one("invitations.expiry")?.line == "- invitation expiry: no client's invitation expires")
        #expect(!Doctor.healthy(results))
    }

    @Test("the invitations folder: writable by its group fails; owned by another user fails")
    func invitationsFolder() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        try scratch.write(try portal())
        try FileManager.default.createDirectory(atPath: scratch.invitations, withIntermediateDirectories: true)
        try scratch.chmod(scratch.invitations, 0o750)
        var results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("invitations.folder")?.line == "✔ \(scratch.invitations)/ is writable by its owner only (mode 0750)")
        #expect(results.one("invitations.owner")?.status == .pass)

        try scratch.chmod(scratch.invitations, 0o770)
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("invitations.folder")?.line
            == "✘ \(scratch.invitations)/ is writable by its group (mode 0770): anyone in the group could replace an invitation: run chmod g-w \(scratch.invitations)")
        #expect(!Doctor.healthy(results))

        guard geteuid() == 0 else { return }  // chown needs root
        try scratch.chmod(scratch.invitations, 0o700)
        #expect(chown(scratch.invitations, 65534, 65534) == 0)
        results = await scratch.doctor(checkServers: false).run()
        let owner = try #require(results.one("invitations.owner"))
        #expect(owner.status == .fail && owner.message.contains("is owned by") && owner.message.contains("65534"), "\(owner.line)")
        #expect(owner.fix == "run chown 0 \(scratch.invitations) as root, or run doctor as the user that runs the service")
    }

    @Test("key lifetimes: an invitation expired unused fails with its fix; one that expires later, a single-use one and a rotation's overlap are reported")
    func lifetimes() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        var config = try ServiceConfiguration(name: "portal", url: "ws://127.0.0.1:6501", ip: "127.0.0.1", port: 6501)
        let anywhere = try IPAllowance(parsing: "127.0.0.1")
        for name in ["late", "soon", "rotated"] { _ = try config.addClient(name, allowing: anywhere) }
        config.clients[0].expires = Date(timeIntervalSince1970: 1_700_000_000)
        config.clients[1].expires = Date(timeIntervalSinceNow: 3600)
        config.clients[1].singleUse = true
        _ = try config.rotateClientKeys("rotated", keepingPreviousFor: .seconds(7200))
        _ = try scratch.write(config)
        let results = await scratch.doctor(checkServers: false).run()
        let expired = try #require(results.named("invitations.expiry").first { $0.subject == "late@default" })
        #expect(expired.line == "✘ the invitation of client late@default expired unused at 2023-11-14T22:13:20Z: its keys are refused: "
            + "write a new one with paddington rotate late --zone default --overlap 0, then paddington reload")
        #expect(results.named("invitations.expiry").first { $0.subject == "soon@default" }?.status == .pass)
        #expect(results.one("invitations.single_use")?.subject == "soon@default")
        let overlap = try #require(results.one("keys.previous"))
        #expect(overlap.status == .warning && overlap.subject == "rotated@default" && overlap.message.contains("until 20"))
        #expect(!Doctor.healthy(results))
    }
}

/// The listener's TLS certificate, with a throw-away CA made by `openssl`.
@Suite("doctor: TLS")
struct DoctorTLSTests {
    static func service(certificate: String, url: String, pki: TestPKI) throws -> ServiceConfiguration {
        var config = try ServiceConfiguration(name: "portal", url: url, ip: "127.0.0.1", port: 6501)
        config.tlsCertificate = pki.path("\(certificate).pem")
        config.tlsKey = pki.path("\(certificate).key")
        return config
    }

    @Test("a certificate about to expire warns; an expired one fails; one for another host fails; without TLS, one line says so")
    func certificates() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let scratch = try DoctorScratch()
        defer { scratch.remove() }

        _ = try scratch.write(try Self.service(certificate: "good", url: "wss://localhost:6501", pki: pki))
        var results = await scratch.doctor(checkServers: false).run()
        let soon = try #require(results.one("tls"))
        #expect(soon.status == .warning && soon.message.contains("for localhost, 127.0.0.1 expires in"), "\(soon.line)")
        #expect(results.one("tls.name") == nil)

        _ = try scratch.write(try Self.service(certificate: "expired", url: "wss://localhost:6501", pki: pki))
        results = await scratch.doctor(checkServers: false).run()
        let expired = try #require(results.one("tls"))
        #expect(expired.status == .fail && expired.line.contains("expired at 2020-01-02T00:00:00Z") && expired.line.contains("paddington reload"), "\(expired.line)")

        _ = try scratch.write(try Self.service(certificate: "wrong-host", url: "wss://localhost:6501", pki: pki))
        results = await scratch.doctor(checkServers: false).run()
        let name = try #require(results.one("tls.name"))
        #expect(name.status == .fail && name.message.contains("is for other.example, 127.0.0.1, not localhost"), "\(name.line)")

        _ = try scratch.write(try ServiceConfiguration(name: "portal", url: "ws://127.0.0.1:6501", ip: "127.0.0.1", port: 6501))
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("tls")?.line == "- TLS: not configured (the listener speaks plain ws://; tls_certificate and tls_key turn it on)")
        #expect(results.named("tls.url").isEmpty && results.named("tls.key.mode").isEmpty)
    }

    @Test("a TLS listener whose url is ws:// warns with the listen command that fixes it")
    func plainURL() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        _ = try scratch.write(try Self.service(certificate: "good", url: "ws://localhost:6501", pki: pki))
        var results = await scratch.doctor(checkServers: false).run()
        let url = try #require(results.one("tls.url"))
        #expect(url.line == "! the listener speaks TLS (tls_certificate is set), but the service's url is ws://localhost:6501/: "
            + "invited clients would dial plain ws:// into a TLS port: paddington listen --port 6501 --url wss://localhost:6501/ "
            + "(a name the certificate is for), then write new invitations (paddington rotate NAME)")
        #expect(Doctor.healthy(results))

        _ = try scratch.write(try Self.service(certificate: "good", url: "wss://localhost:6501", pki: pki))
        results = await scratch.doctor(checkServers: false).run()
        #expect(results.named("tls.url").isEmpty)
    }

    @Test("the TLS key must be private and ours: 0600 passes, 0640 and 0644 fail with the chmod; a missing key fails to load")
    func keyFile() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        var config = try Self.service(certificate: "good", url: "wss://localhost:6501", pki: pki)
        let key = pki.path("good.key")
        _ = try scratch.write(config)
        var results = await scratch.doctor(checkServers: false).run()
        #expect(results.one("tls.key.mode")?.line == "✔ \(key) is private to its owner (mode 0600)")
        #expect(results.one("tls.key.owner")?.status == .pass)

        for (mode, exposure) in [(0o640, "readable by its group (mode 0640)"), (0o644, "readable by others (mode 0644)")] {
            try scratch.chmod(key, mode)
            results = await scratch.doctor(checkServers: false).run()
            #expect(results.one("tls.key.mode")?.line == "✘ \(key) is \(exposure): run chmod 600 \(key)")
            #expect(!Doctor.healthy(results))
        }
        if geteuid() == 0 {
            try scratch.chmod(key, 0o600)
            #expect(chown(key, 65534, 65534) == 0)
            results = await scratch.doctor(checkServers: false).run()
            #expect(results.one("tls.key.owner")?.status == .fail)
        }

        // A key file that is not there: the configuration does not load, and says which field.
        config.tlsKey = pki.path("missing.key")
        _ = try scratch.write(config)
        results = await scratch.doctor(checkServers: false).run()
        let parse = try #require(results.one("config.parse"))
        #expect(parse.status == .fail && parse.message.contains("tls_key"), "\(parse.line)")
    }

    // MARK: Handshakes with wss:// servers

    /// `agent`'s configuration with one `wss://127.0.0.1:PORT/` server entry for `server`, trusting `entryCA`
    /// in the entry and `serviceCA` service-wide (files of `pki`, or nil).
    static func agent(_ server: DoctorNetworkTests.RunningServer, pki: TestPKI, entryCA: String?, serviceCA: String?) throws
        -> ServiceConfiguration
    {
        var config = try ServiceConfiguration(name: "agent")
        var invitation = server.invitation
        invitation.url = "wss://127.0.0.1:\(server.port)/"
        try config.addServer(invitation)
        config.servers[0].tlsCA = entryCA.map { pki.path($0) }
        config.tlsCA = serviceCA.map { pki.path($0) }
        return config
    }

    @Test("wss://: a server trusted through the service-wide tls_ca, or the entry's own, completes the handshake",
          arguments: [(String?.none, String?.some("ca.pem")), ("ca.pem", nil), ("ca.pem", "other-ca.pem")])
    func trusted(entryCA: String?, serviceCA: String?) async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await DoctorNetworkTests.RunningServer.start(tls: (pki, "good"))
        try scratch.write(try Self.agent(server, pki: pki, entryCA: entryCA, serviceCA: serviceCA))
        let results = await scratch.doctor().run()
        #expect(results.one("server.reachable")?.status == .pass)
        #expect(results.one("server.upgrade")?.status == .info)
        let handshake = try #require(results.one("server.handshake"))
        #expect(handshake.status == .pass, "\(results.lines)")
        #expect(results.one("server.protocol")?.status == .pass)
        await server.stop()
    }

    @Test("wss://: a server whose CA this side does not trust fails the handshake, naming the CA file and the fix",
          arguments: [(String?.none, String?.some("other-ca.pem")), ("other-ca.pem", "ca.pem")])
    func untrusted(entryCA: String?, serviceCA: String?) async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await DoctorNetworkTests.RunningServer.start(tls: (pki, "good"))
        try scratch.write(try Self.agent(server, pki: pki, entryCA: entryCA, serviceCA: serviceCA))
        let results = await scratch.doctor().run()
        let handshake = try #require(results.one("server.handshake"))
        #expect(handshake.status == .fail)
        #expect(handshake.message.hasPrefix("server portal@default: handshake failed: TLS: the certificate of wss://127.0.0.1:\(server.port)/"),
            "\(handshake.line)")
        #expect(handshake.message.contains("is not signed by a CA this side trusts (the CAs in '\(pki.path("other-ca.pem"))')"),
            "\(handshake.line)")
        #expect(handshake.fix?.contains("tls_ca") == true, "\(handshake.line)")
        #expect(!Doctor.healthy(results))
        await server.stop()
    }
}
