import Foundation
import NIOConcurrencyHelpers

/// A real child process with its output captured: one of the package's executables, or any program.
package final class ChildProcess: @unchecked Sendable {
    package let process = Process()
    private let output = NIOLockedValueBox<String>("")
    private let errors = NIOLockedValueBox<String>("")

    /// The folder that holds the built executables: the running program's own folder (the test bundle
    /// and the benchmark sit beside them), else the package's debug build folder.
    package static let binaries: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: bundle.appendingPathComponent("paddington").path) { return bundle }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug").standardized
    }()

    private var input: Pipe?

    /// Starts `executable` (a name in ``binaries``, or an absolute path) in `folder`.
    package init(_ executable: String, _ arguments: [String], in folder: URL, environment: [String: String] = [:], withInput: Bool = false) throws {
        process.executableURL = executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : Self.binaries.appendingPathComponent(executable)
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if withInput {
            let pipe = Pipe()
            input = pipe
            process.standardInput = pipe
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let output = self.output
        let errors = self.errors
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { output.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
        }
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { errors.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } }
        }
        try process.run()
    }

    /// Writes a line to the child's stdin (when started `withInput`). A child that has exited gets
    /// nothing, and this process is not killed by SIGPIPE for it.
    package func send(line: String) {
        Self.ignoreBrokenPipes
        try? input?.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Writing to a pipe whose reader died must fail the write, not kill the test process.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    package func closeInput() {
        try? input?.fileHandleForWriting.close()
    }

    /// Runs a command to completion and returns (status, stdout, stderr).
    package static func run(_ executable: String, _ arguments: [String], in folder: URL) async throws -> (Int32, String, String) {
        let child = try ChildProcess(executable, arguments, in: folder)
        let status = await child.waitForExit() ?? -1
        return (status, child.stdout, child.stderr)
    }

    package var stdout: String { output.withLockedValue { $0 } }
    package var stderr: String { errors.withLockedValue { $0 } }

    /// Waits until stdout contains `text`; false when the time runs out or the process exits first.
    package func waitUntilOutput(contains text: String, timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stdout.contains(text) { return true }
            if !process.isRunning {
                try? await Task.sleep(for: .milliseconds(50))
                return stdout.contains(text)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The ends of both outputs, to explain a failure.
    package var outputTails: String {
        "stdout tail: \(stdout.suffix(500)); stderr tail: \(stderr.suffix(1500))"
    }

    /// Waits for the process to exit and returns its status, or nil on timeout (then kills it).
    package func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                // Let the readability handlers drain.
                try? await Task.sleep(for: .milliseconds(50))
                return process.terminationStatus
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(SIGKILL)
        return nil
    }

    package func kill(_ signal: Int32) {
        if process.isRunning { _ = Foundation.kill(process.processIdentifier, signal) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
