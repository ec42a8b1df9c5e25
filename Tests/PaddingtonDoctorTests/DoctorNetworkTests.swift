import Foundation
import Logging
import NIOCore
import NIOPosix
import Paddington
import PaddingtonControl
import PaddingtonCrypto
import PaddingtonDoctor
import PaddingtonTestSupport
import Testing

/// The listen address and the server checks against real sockets on 127.0.0.1: a busy port, a closed
/// port, plain TCP servers that are not WebSocket, and real server meshes with the right keys, wrong
/// keys and a wrong address allowance.
@Suite("doctor: listen address and servers")
struct DoctorNetworkTests {
    /// A running server mesh, `portal`, with one client `agent` allowed from `allowance`.
    struct RunningServer {
        let mesh: Mesh
        let task: Task<Void, Never>
        let invitation: Invitation
        let port: Int

        /// `tls` (a certificate of `pki`) makes it listen with TLS, and its invitation give `wss://127.0.0.1:PORT/`;
        /// `configure` changes its configuration (the client entry `agent`) before it starts.
        static func start(
            allowing allowance: String = "127.0.0.1", policy: ProtocolPolicy = .auto, tls: (pki: TestPKI, certificate: String)? = nil,
            options: MeshConfiguration = MeshConfiguration(), configure: (inout ServiceConfiguration) -> Void = { _ in }
        ) async throws -> RunningServer {
            var config = try ServiceConfiguration(name: "portal", url: tls == nil ? nil : "wss://127.0.0.1:0/")
            config.protocolPolicy = policy
            if let tls {
                config.tlsCertificate = tls.pki.path("\(tls.certificate).pem")
                config.tlsKey = tls.pki.path("\(tls.certificate).key")
            }
            try config.admitClient("agent", allowing: try IPAllowance(parsing: allowance))
            configure(&config)
            let mesh = Mesh(configuration: config, options: options, logger: quietLogger("portal"))
            let task = Task { _ = try? await mesh.run() }
            let port = try await mesh.listeningPort()
            return RunningServer(mesh: mesh, task: task, invitation: try await mesh.invitation(for: "agent"), port: port)
        }

        func stop() async {
            mesh.shutdown()
            await task.value
        }
    }

    /// `agent`'s configuration with one server entry for `invitation`.
    func agent(_ invitation: Invitation, policy: ProtocolPolicy? = nil) throws -> ServiceConfiguration {
        var config = try ServiceConfiguration(name: "agent")
        try config.addServer(invitation)
        config.servers[0].protocolPolicy = policy
        return config
    }

    func agent(url: String) throws -> ServiceConfiguration {
        try agent(try Invitation(name: "portal", url: url, zone: "default", keys: .generate()))
    }

    // MARK: Listen address

    @Test("listen: a free port passes, a port bound by someone else is a warning naming the fix, a client only listens nowhere")
    func listen() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let busy = try await TinyServer.start(.silent)
        let port = busy.port
        var config = try ServiceConfiguration(name: "portal", port: port)
        try config.addClient("agent", allowing: try IPAllowance(parsing: "127.0.0.1"))
        try scratch.write(config)
        var results = await scratch.doctor().run()
        let held = try #require(results.one("listen"))
        #expect(held.status == .warning)
        #expect(held.message.hasPrefix("listen: 127.0.0.1:\(port) is in use: a running agent of portal may hold it"))
        #expect(held.fix?.contains("ss -ltnp 'sport = :\(port)'") == true)
        #expect(Doctor.healthy(results))
        await busy.stop()

        results = await scratch.doctor().run()
        #expect(results.one("listen")?.line == "✔ listen: 127.0.0.1:\(port) is free (bound and released it)")

        try scratch.write(try ServiceConfiguration(name: "loner"))
        results = await scratch.doctor().run()
        #expect(results.one("listen")?.line == "- listen: loner is a client only and listens nowhere")
        #expect(results.one("tls")?.status == .info)
    }

    @Test("listen: a port held by the running agent whose control socket answers passes and says so")
    func listenHeldByAgent() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        let socket = scratch.folder.appendingPathComponent("portal.sock").path
        let control = ControlServer(mesh: server.mesh, configuration: .init(path: socket), logger: quietLogger("control"))
        let controlTask = Task { try? await control.run() }
        try await control.waitUntilListening()
        var config = try ServiceConfiguration(name: "portal", port: server.port)
        try config.admitClient("agent", allowing: try IPAllowance(parsing: "127.0.0.1"))
        try scratch.write(config)
        let results = await scratch.doctor(control: socket).run()
        #expect(results.one("listen")?.line
            == "✔ listen: 127.0.0.1:\(server.port) is held by the running agent of portal (its control socket \(socket) answers)")
        controlTask.cancel()
        await controlTask.value
        await server.stop()
    }

    @Test("listen: a port in use while the running agent listens elsewhere is a warning naming both addresses")
    func listenHeldByAnother() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        let socket = scratch.folder.appendingPathComponent("portal.sock").path
        let control = ControlServer(mesh: server.mesh, configuration: .init(path: socket), logger: quietLogger("control"))
        let controlTask = Task { try? await control.run() }
        try await control.waitUntilListening()
        let busy = try await TinyServer.start(.silent)
        var config = try ServiceConfiguration(name: "portal", port: busy.port)
        try config.admitClient("agent", allowing: try IPAllowance(parsing: "127.0.0.1"))
        try scratch.write(config)
        let results = await scratch.doctor(control: socket).run()
        let listen = try #require(results.one("listen"))
        #expect(listen.status == .warning)
        #expect(listen.message.hasPrefix(
            "listen: 127.0.0.1:\(busy.port) is in use, but the running agent of portal listens on 127.0.0.1:\(server.port) (its control socket \(socket) answers)"),
            "\(listen.line)")
        #expect(listen.fix?.contains("restart the agent with this configuration") == true)
        await busy.stop()
        controlTask.cancel()
        await controlTask.value
        await server.stop()
    }

    // MARK: Servers

    @Test("server: a closed port is unreachable, and nothing further is tried")
    func unreachable() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let port = try freePort()
        try scratch.write(try agent(url: "ws://127.0.0.1:\(port)/"))
        let results = await scratch.doctor().run()
        #expect(results.one("server.resolve")?.status == .pass)
        #expect(results.one("server.reachable")?.line
            == "✘ server portal@default: 127.0.0.1:\(port) refuses connections (nothing listens there): start the server, or correct the port in its URL")
        #expect(results.named("server.upgrade").isEmpty && results.named("server.handshake").isEmpty)
        #expect(!Doctor.healthy(results))
    }

    @Test("server: a TCP server that is not WebSocket is not upgradable, whether it greets, answers HTTP 200, closes or stays silent",
          arguments: [
            (TinyServer.Behaviour.greet(Array("SSH-2.0-OpenSSH_9.6\r\n".utf8)), "answers with something that is not HTTP (\"SSH-2.0-OpenSSH_9.6..\")"),
            (.greet(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)), "answers the upgrade with HTTP 200 OK instead of 101"),
            (.close, "closes the connection without answering the upgrade"),
            (.silent, "does not answer the upgrade within 0.5 seconds"),
          ])
    func notUpgradable(behaviour: TinyServer.Behaviour, expected: String) async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await TinyServer.start(behaviour)
        try scratch.write(try agent(url: "ws://127.0.0.1:\(server.port)/"))
        // Only the silent server needs a short timeout; the others answer at once, within the default.
        let silent = if case .silent = behaviour { true } else { false }
        let timeout: Duration = silent ? .milliseconds(500) : .seconds(10)
        let clock = ContinuousClock()
        let started = clock.now
        let results = await scratch.doctor(timeout: timeout).run()
        #expect(clock.now - started < (silent ? .seconds(10) : .seconds(5)))
        #expect(results.one("server.reachable")?.status == .pass)
        let upgrade = try #require(results.one("server.upgrade"))
        #expect(upgrade.status == .fail)
        #expect(upgrade.message.contains(expected), "\(upgrade.message)")
        #expect(results.named("server.handshake").isEmpty)
        await server.stop()
    }

    @Test("server: the right keys complete a handshake on protocol 2; an entry limited to protocol 1 is a warning that says so")
    func handshake() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        try scratch.write(try agent(server.invitation))
        var results = await scratch.doctor().run()
        #expect(results.one("server.upgrade")?.line == "✔ server portal@default: answers the WebSocket upgrade with 101 Switching Protocols")
        let handshake = try #require(results.one("server.handshake"))
        #expect(handshake.status == .pass, "\(handshake.line)")
        #expect(handshake.message.hasPrefix("server portal@default: accepts our keys (handshake completed with swift-paddington"))
        #expect(results.one("server.protocol")?.line == "✔ server portal@default: the link runs protocol 2")
        #expect(Doctor.healthy(results), "\(results.lines)")

        try scratch.write(try agent(server.invitation, policy: .off))
        results = await scratch.doctor().run()
        #expect(results.one("server.handshake")?.status == .pass)
        let protocolOne = try #require(results.one("server.protocol"))
        #expect(protocolOne.status == .warning)
        #expect(protocolOne.message == "server portal@default: the link runs protocol 1, the Rust format: no forward secrecy, no replay protection")
        #expect(Doctor.healthy(results))
        // The probe closed its link: the server has none left (soon: the close travels to it).
        #expect(await eventually { !server.mesh.isConnected("agent") })
        await server.stop()
    }

    @Test("server: wrong keys fail the handshake, and say so", arguments: [ProtocolPolicy.auto, .off])
    func wrongKeys(policy: ProtocolPolicy) async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        var invitation = server.invitation
        invitation.keys = .generate()
        try scratch.write(try agent(invitation, policy: policy))
        let results = await scratch.doctor().run()
        #expect(results.one("server.upgrade")?.status == .pass)
        let handshake = try #require(results.one("server.handshake"))
        #expect(handshake.status == .fail)
        #expect(handshake.message.hasPrefix("server portal@default: handshake failed: wrong keys"), "\(handshake.message)")
        #expect(handshake.fix?.contains("paddington rotate") == true)
        #expect(!handshake.line.contains(invitation.keys.inner.exposeHex()))
        await server.stop()
    }

    @Test("server: a server that allows no client from this address refuses the upgrade with 403, and the line says so")
    func addressNotAllowed() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start(allowing: "10.9.9.9")
        try scratch.write(try agent(server.invitation))
        let results = await scratch.doctor().run()
        #expect(results.one("server.upgrade")?.line
            == "✘ server portal@default: refuses the upgrade with HTTP 403: no client is allowed from this host's address there: ask portal's operator to allow this host's address (`paddington invite NAME --ip ADDRESS` there)")
        #expect(results.named("server.handshake").isEmpty)
        await server.stop()
    }

    @Test("server: a host name is resolved first; one that does not resolve fails with the resolver's reason")
    func resolve() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        var invitation = server.invitation
        invitation.url = "ws://portal.test:\(server.port)/"
        try scratch.write(try agent(invitation))
        // A resolver of our own: no query leaves the machine.
        var results = await scratch.doctor(resolve: { host in
            guard host == "portal.test" else { throw PaddingtonError(.transport, "Name or service not known") }
            return ["127.0.0.1"]
        }).run()
        #expect(results.one("server.resolve")?.line == "✔ server portal@default: portal.test resolves to 127.0.0.1")
        #expect(results.one("server.handshake")?.status == .pass)

        results = await scratch.doctor(resolve: { _ in throw PaddingtonError(.transport, "Name or service not known") }).run()
        #expect(results.one("server.resolve")?.line
            == "✘ server portal@default: portal.test does not resolve (Name or service not known): check the host in the server's URL (ws://portal.test:\(server.port)/) and this host's DNS")
        #expect(results.named("server.reachable").isEmpty)

        results = await scratch.doctor(timeout: .milliseconds(200), resolve: { _ in
            try await Task.sleep(for: .seconds(30))
            return []
        }).run()
        #expect(results.one("server.resolve")?.message == "server portal@default: resolving portal.test took longer than 0.2 seconds")
        await server.stop()
    }

    @Test("server: every resolved address is tried in turn; the first that accepts TCP is used, and the line names those that failed")
    func severalAddresses() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        var invitation = server.invitation
        invitation.url = "ws://portal.test:\(server.port)/"
        try scratch.write(try agent(invitation))
        // 127.0.0.2 is loopback too on Linux, but the server listens on 127.0.0.1 only: refused.
        var results = await scratch.doctor(resolve: { _ in ["127.0.0.2", "127.0.0.1"] }).run()
        #expect(results.one("server.resolve")?.line == "✔ server portal@default: portal.test resolves to 127.0.0.2, 127.0.0.1")
        #expect(results.one("server.reachable")?.line
            == "✔ server portal@default: 127.0.0.1:\(server.port) accepts TCP connections; before it, 127.0.0.2:\(server.port) refuses connections (nothing listens there)")
        #expect(results.one("server.upgrade")?.status == .pass)
        #expect(results.one("server.handshake")?.status == .pass, "\(results.lines)")

        results = await scratch.doctor(resolve: { _ in ["127.0.0.2", "127.0.0.3"] }).run()
        let none = try #require(results.one("server.reachable"))
        #expect(none.line == "✘ server portal@default: none of the 2 addresses of portal.test accepts a TCP connection: "
            + "127.0.0.2:\(server.port) refuses connections (nothing listens there); 127.0.0.3:\(server.port) refuses connections (nothing listens there): "
            + "start the server, or correct the port in its URL")
        #expect(results.named("server.upgrade").isEmpty)
        await server.stop()
    }

    @Test("server: a handshake counts as a use: an expiring invitation no longer expires; a single-use one is left for the agent to replace")
    func invitationUse() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        // A server that keeps its changes (in memory here): only such a server replaces single-use keys.
        var options = MeshConfiguration()
        options.configurationChanged = { _ in }
        let server = try await RunningServer.start(options: options) { config in
            config.clients[0].expires = Date(timeIntervalSinceNow: 3600)
        }
        try scratch.write(try agent(server.invitation))
        var results = await scratch.doctor().run()
        #expect(results.one("server.handshake")?.status == .pass, "\(results.lines)")
        #expect(await eventually { server.mesh.configuration.clients.first?.expires == nil })
        await server.stop()

        let single = try await RunningServer.start(options: options) { config in config.clients[0].singleUse = true }
        try scratch.write(try agent(single.invitation))
        results = await scratch.doctor().run()
        #expect(results.one("server.handshake")?.status == .pass, "\(results.lines)")
        // The probe declined the new keys: the server went back to the invitation's (or, when the probe
        // was gone before it answered, keeps both). Either way the entry stays single-use and the
        // invitation's keys still work.
        #expect(await eventually { !single.mesh.isConnected("agent") })
        #expect(await eventually {
            single.mesh.configuration.clients.first.map { $0.keys == single.invitation.keys || $0.previousKeys == single.invitation.keys } == true
        })
        let entry = try #require(single.mesh.configuration.clients.first)
        #expect(entry.singleUse)
        // The agent, dialling later with the invitation's keys, is sent the new keys again and keeps them.
        var agentOptions = MeshConfiguration()
        agentOptions.configurationChanged = { _ in }
        let client = Mesh(configuration: try agent(single.invitation), options: agentOptions, logger: quietLogger("agent"))
        let clientTask = Task { _ = try? await client.run() }
        _ = try await client.waitUntilConnected("portal", timeout: .seconds(10))
        #expect(await eventually { single.mesh.configuration.clients.first.map { !$0.singleUse && $0.previousKeys == nil } == true })
        let final = try #require(single.mesh.configuration.clients.first).keys
        #expect(final != single.invitation.keys)
        #expect(await eventually { client.configuration.servers.first?.keys == final })
        client.shutdown()
        await clientTask.value
        await single.stop()
    }

    @Test("the system resolver finds localhost in /etc/hosts")
    func systemResolver() async throws {
        let addresses = try await SystemResolver.resolve("localhost")
        #expect(addresses.contains("127.0.0.1") || addresses.contains("::1"))
    }

    @Test("server: a link the running agent holds is read from its control socket, not dialled again")
    func linkedByAgent() async throws {
        let scratch = try DoctorScratch()
        defer { scratch.remove() }
        let server = try await RunningServer.start()
        let config = try agent(server.invitation)
        try scratch.write(config)
        let client = Mesh(configuration: config, logger: quietLogger("agent"))
        let clientTask = Task { _ = try? await client.run() }
        _ = try await client.waitUntilConnected("portal", timeout: .seconds(10))
        let socket = scratch.folder.appendingPathComponent("agent.sock").path
        let control = ControlServer(mesh: client, configuration: .init(path: socket), logger: quietLogger("control"))
        let controlTask = Task { try? await control.run() }
        try await control.waitUntilListening()
        let results = await scratch.doctor(control: socket).run()
        #expect(results.one("server.link")?.line == "✔ server portal@default: linked now by the running agent, not dialled again")
        #expect(results.one("server.protocol")?.status == .pass)
        #expect(results.named("server.handshake").isEmpty)
        controlTask.cancel()
        await controlTask.value
        client.shutdown()
        await clientTask.value
        await server.stop()
    }
}
