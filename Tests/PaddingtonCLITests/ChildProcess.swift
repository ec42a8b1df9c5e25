import Foundation
import NIOConcurrencyHelpers
import Testing

/// A real child process with its output captured line by line.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let output = NIOLockedValueBox<String>("")
    private let errors = NIOLockedValueBox<String>("")

    /// The folder that holds the built executables (next to the test bundle).
    static let binaries: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if FileManager.default.fileExists(atPath: bundle.appendingPathComponent("paddington").path) { return bundle }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug").standardized
    }()

    private var input: Pipe?

    init(_ executable: String, _ arguments: [String], in folder: URL, environment: [String: String] = [:], withInput: Bool = false) throws {
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

    /// Writes a line to the child's stdin (when started `withInput`).
    func send(line: String) {
        input?.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func closeInput() {
        try? input?.fileHandleForWriting.close()
    }

    /// Runs a command to completion and returns (status, stdout, stderr).
    static func run(_ executable: String, _ arguments: [String], in folder: URL) async throws -> (Int32, String, String) {
        let child = try ChildProcess(executable, arguments, in: folder)
        let status = await child.waitForExit() ?? -1
        return (status, child.stdout, child.stderr)
    }

    var stdout: String { output.withLockedValue { $0 } }
    var stderr: String { errors.withLockedValue { $0 } }

    /// Waits until stdout contains `text`; records an issue on timeout.
    func waitForOutput(_ text: String, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if stdout.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("no '\(text)' within \(timeout); stdout tail: \(stdout.suffix(500)); stderr tail: \(stderr.suffix(1500))",
                     sourceLocation: sourceLocation)
        return false
    }

    /// Waits for the process to exit and returns its status, or nil on timeout (then kills it).
    func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
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

    func kill(_ signal: Int32) {
        if process.isRunning { _ = Foundation.kill(process.processIdentifier, signal) }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// A fresh temporary folder, removed by `remove()`.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("paddington-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A port that was free a moment ago (bind to 0, read, close).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: address.sin_port))
}
