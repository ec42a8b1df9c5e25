import ArgumentParser
import Foundation
import Logging
import Paddington
import PaddingtonActors
import ServiceLifecycle

@main
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paddington-workers",
        abstract: "A coordinator hands jobs to worker agents through distributed actor calls, each worker in its own process.",
        subcommands: [Demo.self, Worker.self])
}

/// `paddington-workers demo`: sets up a coordinator and K workers in a temporary folder, runs them,
/// and prints one summary line.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a coordinator and worker processes over a fresh mesh.")

    @Option(help: "Jobs to run.") var jobs = 200
    @Option(help: "Worker processes.") var workers = 3
    @Flag(help: "Kill one worker (SIGKILL) a third of the way through.") var killOne = false
    @Option(help: "Log level on stderr.") var logLevel = "warning"

    func validate() throws {
        guard (1...100_000).contains(jobs) else { throw ValidationError("--jobs must be 1 to 100000") }
        guard (1...32).contains(workers) else { throw ValidationError("--workers must be 1 to 32") }
        guard !killOne || workers >= 2 else { throw ValidationError("--kill-one needs at least 2 workers") }
    }

    func run() async throws {
        var logger = Logger(label: "coordinator") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("paddington-workers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: folder) }

        // The coordinator listens; each worker gets an invitation and dials it.
        var coordinator = try ServiceConfiguration(name: "coordinator", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        var invitations: [Invitation] = []
        for index in 0..<workers {
            invitations.append(try coordinator.addClient("worker-\(index)", allowing: try IPAllowance(parsing: "127.0.0.1")))
        }
        let mesh = Mesh(configuration: coordinator, logger: logger)
        let system = MeshActorSystem(mesh: mesh)
        let meshTask = Task { try await mesh.run() }
        defer { mesh.shutdown() }
        let port = try await mesh.listeningPort()

        var processes: [Process] = []
        defer { for process in processes where process.isRunning { process.terminate() } }
        for (index, var invitation) in invitations.enumerated() {
            invitation.url = "ws://127.0.0.1:\(port)/"
            var config = try ServiceConfiguration(name: "worker-\(index)", port: 0)
            try config.addServer(invitation)
            let path = folder.appendingPathComponent("worker-\(index).toml").path
            try config.save(to: path)
            processes.append(try Self.launch(["worker", "--config", path, "--log-level", logLevel]))
        }
        let names = (0..<workers).map { "worker-\($0)" }
        for name in names { _ = try await mesh.waitUntilConnected(name, timeout: .seconds(30)) }

        let jobs = (0..<jobs).map { Job(id: $0, number: 1_000_003 &* UInt64($0 + 2)) }
        let coordinatorActor = Coordinator(system: system, jobs: jobs)
        if killOne {
            let victim = processes[0], third = jobs.count / 3
            Task {
                while await coordinatorActor.done < third { try await Task.sleep(for: .milliseconds(5)) }
                kill(victim.processIdentifier, SIGKILL)
            }
        }
        let summary = await coordinatorActor.run(on: names, timeout: .seconds(10))
        print("jobs done \(summary.done) of \(summary.total), retried \(summary.retried), failed \(summary.failed)"
            + (summary.completedTwice > 0 ? ", completed twice \(summary.completedTwice)" : ""))
        mesh.shutdown()
        _ = try? await meshTask.value
        guard summary.done == summary.total, summary.failed == 0 else { throw ExitCode(1) }
    }

    /// Starts this executable again with `arguments`.
    static func launch(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        try process.run()
        return process
    }
}

/// `paddington-workers worker`: one worker agent, hosting the `worker` actor, until SIGTERM.
struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one worker agent (started by `demo`).")

    @Option(help: "The worker's service configuration.") var config: String
    @Option(help: "Log level on stderr.") var logLevel = "warning"

    func run() async throws {
        var logger = Logger(label: "worker") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        let mesh = Mesh(configuration: try ServiceConfiguration.load(from: config), logger: logger)
        let system = MeshActorSystem(mesh: mesh)
        let worker = system.makeWellKnown("worker") { JobWorker(actorSystem: $0) }
        let group = ServiceGroup(services: [mesh], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
        _ = worker
    }
}
