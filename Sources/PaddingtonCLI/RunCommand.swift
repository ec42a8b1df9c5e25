import ArgumentParser
import CoreMetrics
import EchoCore
import Foundation
import Logging
import Paddington
import PaddingtonControl
import PaddingtonHealth
import Prometheus
import ServiceLifecycle
import UnixSignals

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a configured service: a netcat for the mesh.",
        discussion: """
            Prints each event and each received message as one JSON line on stdout. Each line read from \
            stdin, `PEER[@ZONE] PAYLOAD`, is sent to that peer (zone `default` when omitted); a failed send \
            prints an error line. SIGINT or SIGTERM shut down gracefully.

            It also opens a control socket (mode 0600) for `paddington status`, `ping`, `call`, `send` and \
            `reload`: by default $XDG_RUNTIME_DIR/paddington/NAME.sock, or /tmp/paddington-UID/NAME.sock \
            without XDG_RUNTIME_DIR, where NAME is the service's name.

            SIGHUP (or `paddington reload`) re-reads the configuration file without a restart. Changes the \
            service makes to its own configuration (an invitation used, a rotation's previous keys \
            retired, single-use keys replaced) are written back to the file.

            When the configuration sets `heathcheck_port`, it serves `GET /health` (as the Rust crate) and \
            `GET /metrics` (Prometheus) on the service's `ip` and that port, and prints a `health` line \
            with the bound port.
            """)

    @OptionGroup var file: ConfigOption
    @OptionGroup var log: LogOptions
    @Flag(help: "Shut down when stdin ends (after sending what was read).")
    var exitOnEOF = false
    @Option(help: "Seconds allowed for each connection and handshake step.")
    var handshakeTimeout: Double = 10
    @Option(help: "Close a link when nothing has been received for this many seconds.")
    var idleTimeout: Double = 300
    @Option(help: "Send a keepalive when nothing has been sent for this many seconds.")
    var keepaliveInterval: Double = 23
    @Option(name: .customLong("protocol"),
            help: "Wire protocol: auto (2 with peers that support it, else 1), 2 (require it) or 1 (the Rust format only). Default: the configuration's.")
    var protocolPolicy: ProtocolPolicy?
    @Option(help: "The control socket's path (default: see above).", completion: .file())
    var control: String?
    @Flag(help: "Open no control socket.")
    var noControl = false
    /// Plays a peer without agent frames (as the Rust crate is), for tests of mixed meshes.
    @Flag(help: .hidden)
    var noAgentFrames = false

    func validate() throws {
        for (name, value) in [("--handshake-timeout", handshakeTimeout), ("--idle-timeout", idleTimeout), ("--keepalive-interval", keepaliveInterval)]
        where !(value > 0 && value < 86_400) {
            throw ValidationError("\(name) must be between 0 and 86400 seconds")
        }
    }

    var options: MeshConfiguration {
        var options = MeshConfiguration(
            handshakeTimeout: .milliseconds(Int64(handshakeTimeout * 1000)),
            idleTimeout: .milliseconds(Int64(idleTimeout * 1000)),
            keepaliveInterval: .milliseconds(Int64(keepaliveInterval * 1000)))
        if noAgentFrames { options.identity.announcesAgentFrames = false }
        return options
    }

    func run() async throws {
        var config = try await reporting { try file.load() }
        if let protocolPolicy { config.protocolPolicy = protocolPolicy }
        let logger = log.makeLogger(config.name)
        let configurationFile = ConfigurationFile(path: file.config)
        var options = self.options
        // Changes the mesh makes to its own configuration (an invitation used, a rotation's previous
        // keys retired, single-use keys replaced) are written back to the file.
        options.configurationChanged = { change in
            do {
                try await configurationFile.save(change)
                say(JSONLine.configurationChanged(change))
            } catch {
                say(JSONLine.error("could not save \(change) to \(configurationFile.path): \(error)"))
            }
        }
        // Metrics go to Prometheus, for the whole process, only when the health endpoint is on.
        let registry: PrometheusCollectorRegistry? = config.healthcheckPort == nil ? nil : PrometheusCollectorRegistry()
        if let registry { MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry)) }
        let mesh = Mesh(
            configuration: config, options: options,
            requestMiddleware: registry == nil ? [] : [RequestMetrics(service: config.name)], logger: logger)
        let protocolOverride = protocolPolicy
        // SIGHUP and `paddington reload` re-read the file; an invalid file changes nothing.
        let reload: ControlServer.Reload = { now in
            do {
                let summary = try await configurationFile.reload(into: mesh, reconnectNow: now, protocolPolicy: protocolOverride)
                say(JSONLine.reloaded(summary))
                return summary
            } catch {
                say(JSONLine.error("reload refused, the running configuration is kept: \((error as? PaddingtonError)?.message ?? "\(error)")"))
                throw error
            }
        }
        // Trapped before anything is printed, so that a SIGHUP after the first line never kills the process.
        let hangupSignals = await UnixSignalsSequence(trapping: .sighup)
        let hangups = Task {
            for await _ in hangupSignals {
                _ = try? await reload(false)
            }
        }
        defer { hangups.cancel() }
        mesh.onMessage { message, _ in say(JSONLine.message(message)) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: mesh)]
        var healthServer: HealthServer?
        if let registry {
            let server = HealthServer(mesh: mesh, registry: registry, logger: logger)
            healthServer = server
            services.append(.init(service: server))
        }
        var controlServer: ControlServer?
        if !noControl {
            let path = control ?? ControlPath.default(for: config.name)
            let server = ControlServer(mesh: mesh, configuration: .init(path: path), reload: reload, logger: logger)
            controlServer = server
            services.append(.init(service: server))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        let events = Task { [stream = mesh.events] in
            for await event in stream { say(JSONLine.event(event)) }
        }
        let input = Task {
            let (lines, taken) = Self.standardInputLines()
            for await line in lines {
                await Self.send(line: line, mesh: mesh)
                taken.signal()
            }
            if exitOnEOF { await group.triggerGracefulShutdown() }
        }
        if let controlServer {
            let path = control ?? ControlPath.default(for: config.name)
            Task {
                do {
                    try await controlServer.waitUntilListening()
                    say(JSONLine.control(path: path))
                } catch {
                    say(JSONLine.error("no control socket: \(error)"))
                }
            }
        }
        if let healthServer {
            let host = config.ip.description
            Task {
                do {
                    let port = try await healthServer.port()
                    say(JSONLine.health(host: host, port: port))
                } catch {
                    say(JSONLine.error("no health server: \(error)"))
                }
            }
        }
        try await reporting { try await group.run() }
        input.cancel()
        await events.value
    }

    static func send(line: String, mesh: Mesh) async {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return }
        guard let space = trimmed.firstIndex(of: " ") else {
            say(JSONLine.error("expected `PEER[@ZONE] PAYLOAD`", input: line))
            return
        }
        let target = trimmed[..<space]
        let payload = String(trimmed[trimmed.index(after: space)...])
        let parts = target.split(separator: "@", maxSplits: 1)
        let name = String(parts[0])
        let zone = parts.count > 1 ? String(parts[1]) : "default"
        do {
            try await mesh.send(payload, to: name, zone: zone)
        } catch let error as PaddingtonError {
            say(JSONLine.error(error.message, input: line))
        } catch {
            say(JSONLine.error("\(error)", input: line))
        }
    }

    /// Lines of stdin, read on a thread of their own so that the event loops never block. At most 1024
    /// lines wait to be sent: the reader stops reading until the consumer signals `taken` for each line
    /// it handled (backpressure on stdin; a line is never dropped).
    static func standardInputLines() -> (lines: AsyncStream<String>, taken: DispatchSemaphore) {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        let room = DispatchSemaphore(value: 1024)
        let thread = Thread {
            while let line = readLine(strippingNewline: true) {
                room.wait()
                continuation.yield(line)
            }
            continuation.finish()
        }
        thread.start()
        return (stream, room)
    }
}
