import Foundation
import PaddingtonTestSupport
import Testing

@testable import Paddington

/// `wss://` in both roles: a throw-away CA and certificates made with the `openssl` command in a
/// temporary folder (no key is committed), a server mesh serving TLS and client meshes dialling it.
@Suite("TLS")
struct TLSTests {
    // MARK: A throw-away PKI

    typealias PKI = TestPKI

    // MARK: Meshes

    /// A server on 127.0.0.1 serving TLS with `certificate`, answering `ack:<payload>`, with one
    /// client allowed from 127.0.0.1; and that client's invitation.
    static func startServer(_ pki: PKI, certificate: String = "good", policy: ProtocolPolicy = .auto) async throws
        -> (server: RunningMesh, invitation: Invitation, port: Int)
    {
        var config = try ServiceConfiguration(name: "server", url: "wss://localhost:1/", ip: "127.0.0.1", port: 0)
        config.tlsCertificate = pki.path("\(certificate).pem")
        config.tlsKey = pki.path("\(certificate).key")
        config.protocolPolicy = policy
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = RunningMesh(config) { mesh in
            mesh.onMessage { message, context in try await context.reply("ack:\(message.payload)") }
        }
        return (server, invitation, try await server.mesh.listeningPort())
    }

    /// A client of `invitation` dialling `url`, trusting `ca` (a file of the PKI), collecting what it receives.
    static func startClient(_ invitation: Invitation, url: String, ca: String?, policy: ProtocolPolicy = .auto, inbox: Inbox = Inbox())
        throws -> RunningMesh
    {
        var config = try ServiceConfiguration(name: "client", port: 0)
        config.protocolPolicy = policy
        var invitation = invitation
        invitation.url = url
        try config.addServer(invitation)
        config.servers[0].tlsCA = ca
        return RunningMesh(config) { mesh in
            mesh.onMessage { message, _ in inbox.append(message) }
        }
    }

    /// The first refusal a mesh reported.
    static func refusal(of mesh: RunningMesh, _ description: String) async throws -> PaddingtonError {
        let event = try await mesh.recorder.wait(for: description) { $0.failureCode != nil }
        guard case .handshakeFailed(_, _, let error) = event else { throw PaddingtonError(.timeout, "no \(description)") }
        return error
    }

    /// A client that trusts the right CA and dials 127.0.0.1 connects and gets an answer.
    static func expectServesTLS(_ invitation: Invitation, port: Int, pki: PKI, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        let inbox = Inbox()
        let client = try startClient(invitation, url: "wss://127.0.0.1:\(port)/", ca: pki.path("ca.pem"), inbox: inbox)
        _ = try await client.mesh.waitUntilConnected("server", timeout: .seconds(15))
        try await client.mesh.send("after", to: "server")
        try await inbox.wait(count: 1, sourceLocation: sourceLocation)
        #expect(inbox.all.first?.payload == "ack:after", sourceLocation: sourceLocation)
        await client.stop()
    }

    // MARK: Good certificates

    @Test("a client trusting the CA dials wss:// and a message round-trips, on protocol 1 and 2, by address and by name",
          arguments: [ProtocolPolicy.off, .auto], ["127.0.0.1", "localhost"])
    func goodCertificate(policy: ProtocolPolicy, host: String) async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki, policy: policy)
        let inbox = Inbox()
        let client = try Self.startClient(invitation, url: "wss://\(host):\(port)/", ca: pki.path("ca.pem"), policy: policy, inbox: inbox)
        let info = try await client.mesh.waitUntilConnected("server", timeout: .seconds(30))
        #expect(info.protocolVersion == (policy == .off ? 1 : 2))
        try await client.mesh.send("over tls", to: "server")
        try await inbox.wait(count: 1)
        #expect(inbox.all.map(\.payload) == ["ack:over tls"])
        #expect(server.mesh.statistics.handshakes == 1)
        await client.stop()
        await server.stop()
    }

    @Test("the service-wide tls_ca applies to server entries without their own")
    func serviceWideCA() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki)
        var config = try ServiceConfiguration(name: "client", port: 0)
        var dialled = invitation
        dialled.url = "wss://localhost:\(port)/"
        try config.addServer(dialled)
        config.tlsCA = pki.path("ca.pem")
        let client = RunningMesh(config)
        _ = try await client.mesh.waitUntilConnected("server", timeout: .seconds(30))
        await client.stop()
        await server.stop()
    }

    @Test("the listener speaks TLS 1.2 and TLS 1.3 to another TLS stack (OpenSSL), with the certificate it was given",
          arguments: ["-tls1_2", "-tls1_3"])
    func versions(version: String) async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, _, port) = try await Self.startServer(pki)
        let (status, output) = try PKI.run([
            "s_client", version, "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-CAfile", pki.path("ca.pem"),
            "-verify_return_error", "-verify_hostname", "localhost",
        ])
        #expect(status == 0, "\(output.suffix(800))")
        #expect(output.contains(version == "-tls1_2" ? "TLSv1.2" : "TLSv1.3"), "\(output.suffix(800))")
        #expect(output.contains("Verify return code: 0 (ok)"), "\(output.suffix(800))")
        // OpenSSL hung up without a request: refused before the upgrade, and the server goes on.
        _ = try await Self.refusal(of: server, "the hang-up")
        await server.stop()
    }

    @Test("host names match a certificate's DNS names, a wildcard covering one label, case and a final dot aside")
    func hostNameMatching() throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let wildcard = try #require(try TLSSetup.certificates(at: pki.path("wildcard.pem"), field: "f", source: "s").first)
        #expect(TLSSetup.certificate(wildcard, isFor: "portal.mesh.test"))
        #expect(TLSSetup.certificate(wildcard, isFor: "PORTAL.Mesh.Test."))
        #expect(!TLSSetup.certificate(wildcard, isFor: "mesh.test"))
        #expect(!TLSSetup.certificate(wildcard, isFor: "a.portal.mesh.test"))
        #expect(!TLSSetup.certificate(wildcard, isFor: "portal.mesh.test.evil"))
        let good = try #require(try TLSSetup.certificates(at: pki.path("good.pem"), field: "f", source: "s").first)
        #expect(TLSSetup.certificate(good, isFor: "localhost"))
        // The address is in the certificate, but a dial by name needs the name.
        #expect(!TLSSetup.certificate(good, isFor: "127.0.0.1.nip.io"))
        #expect(TLSSetup.names(of: good) == ["localhost", "127.0.0.1"])
        // The CA has no alternative names: its common name stands in.
        let ca = try #require(try TLSSetup.certificates(at: pki.path("ca.pem"), field: "f", source: "s").first)
        #expect(TLSSetup.certificate(ca, isFor: "Paddington Test CA"))
    }

    // MARK: Refusals, each with its reason; the server goes on serving

    @Test("a certificate for another host is refused: 'is for other.example, 127.0.0.1, not localhost'")
    func wrongHost() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki, certificate: "wrong-host")
        let client = try Self.startClient(invitation, url: "wss://localhost:\(port)/", ca: pki.path("ca.pem"))
        let error = try await Self.refusal(of: client, "a refusal of the wrong host")
        #expect(error.code == .tls)
        #expect(error.message.contains("is for other.example, 127.0.0.1, not localhost"), "\(error)")
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()
        // The same certificate is right for 127.0.0.1: the server still serves.
        try await Self.expectServesTLS(invitation, port: port, pki: pki)
        await server.stop()
    }

    @Test("a renewed certificate needs no restart: after a reload, new connections get it; a reload with an unusable key changes nothing")
    func renewedByReload() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki, certificate: "wrong-host")
        let before = try Self.startClient(invitation, url: "wss://localhost:\(port)/", ca: pki.path("ca.pem"))
        #expect(try await Self.refusal(of: before, "a refusal of the wrong host").code == .tls)
        await before.stop()

        var broken = server.mesh.configuration
        broken.tlsKey = pki.path("other-ca.key")
        let error = #expect(throws: PaddingtonError.self) { try server.mesh.reload(broken) }
        #expect(error?.message.contains("tls_key") == true, "\(String(describing: error))")

        var renewed = server.mesh.configuration
        renewed.tlsCertificate = pki.path("good.pem")
        renewed.tlsKey = pki.path("good.key")
        let summary = try server.mesh.reload(renewed)
        #expect(summary.tlsCertificateReloaded && summary.description == "no change; TLS certificate read again")
        let after = try Self.startClient(invitation, url: "wss://localhost:\(port)/", ca: pki.path("ca.pem"))
        _ = try await after.mesh.waitUntilConnected("server", timeout: .seconds(15))
        await after.stop()
        await server.stop()
    }

    @Test("an expired certificate is refused, saying when it expired; the server hears the client's alert")
    func expired() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki, certificate: "expired")
        let client = try Self.startClient(invitation, url: "wss://127.0.0.1:\(port)/", ca: pki.path("ca.pem"))
        let error = try await Self.refusal(of: client, "a refusal of the expired certificate")
        #expect(error.code == .tls)
        #expect(error.message.contains("expired on 2020-01-02"), "\(error)")
        let heard = try await Self.refusal(of: server, "the client's alert")
        #expect(heard.code == .tls)
        #expect(heard.message.contains("certificate expired"), "\(heard)")
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()
        await server.stop()
    }

    @Test("a certificate from a CA the client does not trust is refused, naming the issuer; the server goes on")
    func untrustedCA() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki)
        let client = try Self.startClient(invitation, url: "wss://localhost:\(port)/", ca: pki.path("other-ca.pem"))
        let error = try await Self.refusal(of: client, "a refusal of the untrusted CA")
        #expect(error.code == .tls)
        #expect(error.message.contains("not signed by a CA this side trusts"), "\(error)")
        #expect(error.message.contains("Paddington Test CA"), "\(error)")
        #expect(error.message.contains(pki.path("other-ca.pem")), "\(error)")
        let heard = try await Self.refusal(of: server, "the client's alert")
        #expect(heard.code == .tls)
        #expect(heard.message.contains("unknown ca"), "\(heard)")
        await client.stop()
        try await Self.expectServesTLS(invitation, port: port, pki: pki)
        await server.stop()
    }

    @Test("a plain ws:// client to the TLS port is refused as such, and the server goes on", arguments: [ProtocolPolicy.off, .auto])
    func plainClientToTLSPort(policy: ProtocolPolicy) async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await Self.startServer(pki)
        let client = try Self.startClient(invitation, url: "ws://127.0.0.1:\(port)/", ca: nil, policy: policy)
        let error = try await Self.refusal(of: server, "the refusal of a plain client")
        #expect(error.code == .tls)
        #expect(error.message.contains("plain (non-TLS) client"), "\(error)")
        let failed = try await Self.refusal(of: client, "the plain client's failure")
        #expect(failed.code != .tls)
        #expect(client.recorder.count(\.isConnected) == 0)
        await client.stop()
        try await Self.expectServesTLS(invitation, port: port, pki: pki)
        #expect(server.mesh.statistics.handshakes == 1)
        await server.stop()
    }

    @Test("a TLS client to a plain port is refused: the server does not speak TLS; the server goes on")
    func tlsClientToPlainPort() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let (server, invitation, port) = try await startAckServer()
        let client = try Self.startClient(invitation, url: "wss://127.0.0.1:\(port)/", ca: pki.path("ca.pem"))
        let error = try await Self.refusal(of: client, "the TLS client's failure")
        #expect(error.code == .tls)
        #expect(error.message.contains("does not speak TLS") || error.message.contains("during the TLS handshake"), "\(error)")
        let heard = try await Self.refusal(of: server, "the plain server's refusal")
        #expect(heard.code == .protocolViolation)
        #expect(heard.message.contains("a TLS (wss://) client dials this plain ws:// port"), "\(heard)")
        await client.stop()
        try await expectServes(port: port, invitation: invitation)
        await server.stop()
    }

    // MARK: Configuration

    static let base = "name = \"s\"\nurl = \"wss://localhost:6501\"\nip = \"127.0.0.1\"\nport = 6501\n"

    @Test("tls_certificate, tls_key and tls_ca are read, checked and written back; invitations keep wss://")
    func configurationRoundTrip() throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let text = Self.base + """
            tls_certificate = "\(pki.path("good.pem"))"
            tls_key = "\(pki.path("good.key"))"
            tls_ca = "\(pki.path("ca.pem"))"

            """
        var config = try ServiceConfiguration.parse(text)
        #expect(config.tlsCertificate == pki.path("good.pem"))
        #expect(config.tlsKey == pki.path("good.key"))
        #expect(config.tlsCA == pki.path("ca.pem"))
        let invitation = try config.addClient("c", allowing: try IPAllowance(parsing: "127.0.0.1"))
        #expect(invitation.url == "wss://localhost:6501/")
        var client = try ServiceConfiguration(name: "c", port: 0)
        try client.addServer(invitation)
        client.servers[0].tlsCA = pki.path("other-ca.pem")
        #expect(client.servers[0].url.isSecure)
        #expect(try ServiceConfiguration.parse(config.rendered()) == config)
        let reread = try ServiceConfiguration.parse(client.rendered())
        #expect(reread == client)
        #expect(reread.servers[0].tlsCA == pki.path("other-ca.pem"))
    }

    @Test("relative TLS paths are taken from the configuration file's folder")
    func relativePaths() throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        let file = pki.path("service.toml")
        try (Self.base + "tls_certificate = \"good.pem\"\ntls_key = \"./good.key\"\n").write(toFile: file, atomically: true, encoding: .utf8)
        let config = try ServiceConfiguration.load(from: file)
        #expect(config.tlsCertificate == pki.path("good.pem"))
        #expect(config.tlsKey == pki.folder.path + "/./good.key")
    }

    @Test("bad TLS files are refused, naming the field and what is wrong")
    func badFiles() throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        try "not a certificate\n".write(toFile: pki.path("junk.pem"), atomically: true, encoding: .utf8)
        let good = "tls_certificate = \"\(pki.path("good.pem"))\"\n"
        let key = "tls_key = \"\(pki.path("good.key"))\"\n"
        let cases: [(String, field: String, says: String)] = [
            ("tls_certificate = \"\(pki.path("missing.pem"))\"\n" + key, "tls_certificate", "does not exist"),
            ("tls_certificate = \"\(pki.path("junk.pem"))\"\n" + key, "tls_certificate", "PEM certificate"),
            ("tls_certificate = \"\(pki.folder.path)\"\n" + key, "tls_certificate", "is a folder"),
            (good + "tls_key = \"\(pki.path("missing.key"))\"\n", "tls_key", "does not exist"),
            (good + "tls_key = \"\(pki.path("junk.pem"))\"\n", "tls_key", "not a PEM private key"),
            (good + "tls_key = \"\(pki.path("wrong-host.key"))\"\n", "tls_key", "does not match"),
            (good, "tls_key", "is missing"),
            (key, "tls_certificate", "is missing"),
            ("tls_certificate = \"\"\n" + key, "tls_certificate", "must name a PEM file"),
            ("tls_certificate = 5\n" + key, "tls_certificate", "must be a string"),
            ("tls_ca = \"\(pki.path("junk.pem"))\"\n", "tls_ca", "PEM certificate"),
            ("tls_ca = \"\(pki.path("good.key"))\"\n", "tls_ca", "PEM certificate"),
        ]
        for (text, field, says) in cases {
            let error = #expect(throws: PaddingtonError.self) { try ServiceConfiguration.parse(Self.base + text, source: "service.toml") }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.contains("service.toml: field '\(field)'") == true, "\(String(describing: error))")
            #expect(error?.message.contains(says) == true, "\(String(describing: error))")
            #expect(error?.message.contains("BEGIN PRIVATE KEY-----\n") != true)
        }
        let entry = """
            [[servers]]
            name = "p"
            url = "wss://localhost:6501"
            zone = "default"
            tls_ca = "\(pki.path("missing.pem"))"
            [servers.inner_key]
            data = "\(String(repeating: "ab", count: 32))"
            [servers.outer_key]
            data = "\(String(repeating: "cd", count: 32))"

            """
        let error = #expect(throws: PaddingtonError.self) { try ServiceConfiguration.parse(Self.base + entry, source: "service.toml") }
        #expect(error?.message.contains("field 'servers[0].tls_ca'") == true, "\(String(describing: error))")
        #expect(error?.message.contains("does not exist") == true)
    }

    @Test("a mesh given unusable TLS files does not listen, and says why; a dialler with a missing CA file says why")
    func badFilesInAMesh() async throws {
        let pki = try PKI.make()
        defer { pki.remove() }
        var config = try serverConfiguration()
        config.tlsCertificate = pki.path("missing.pem")
        config.tlsKey = pki.path("good.key")
        let invitation = try config.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
        let server = RunningMesh(config)
        let error = await #expect(throws: PaddingtonError.self) { _ = try await server.mesh.listeningPort() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("'tls_certificate'") == true, "\(String(describing: error))")
        await server.stop()

        let client = try Self.startClient(invitation, url: "wss://127.0.0.1:1/", ca: pki.path("missing.pem"))
        let failed = try await Self.refusal(of: client, "the missing CA file")
        #expect(failed.code == .invalidConfiguration)
        #expect(failed.message.contains("tls_ca") && failed.message.contains("does not exist"), "\(failed)")
        await client.stop()
    }

    @Test("wss:// URLs: TLS, default port 443, the path kept with another port")
    func secureURLs() throws {
        let plain = try WebSocketURL(parsing: "wss://Portal.Example")
        #expect(plain.isSecure && plain.port == 443 && plain.host == "portal.example")
        #expect(plain.description == "wss://portal.example")
        let https = try WebSocketURL(parsing: "https://portal.example:8443/mesh")
        #expect(https.isSecure && https.port == 8443 && https.description == "wss://portal.example:8443/mesh")
    }
}
