import Foundation

/// Hosts in network namespaces on this machine (scripts/hosts.sh): each with its own IPv4 and IPv6
/// address, joined by veth pairs to a bridge. Processes run on a host with ``run(on:_:_:in:withInput:)``;
/// ``cut(_:)`` and ``heal(_:)`` take a host's link down and up. ``destroy()`` removes everything (and a
/// later bed's creation sweeps beds whose test process died).
///
/// Needs root and iproute2. ``unavailableReason`` says why when this machine cannot make them.
package final class HostBed: @unchecked Sendable {
    /// The bed's name: the prefix of its namespaces.
    package let name: String
    /// How many hosts.
    package let count: Int
    private var destroyed = false

    private static let prefix = "pd"
    private static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/hosts.sh").standardized.path
    }

    /// Why no bed can be made here, or nil when one can.
    package static var unavailableReason: String? {
        let (status, _, errors) = shell([script, "check"])
        return status == 0 ? nil : errors.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes `count` hosts.
    package init(hosts count: Int) throws {
        // Unique per process and bed: the pid (for the sweep) and a counter.
        let serial = Self.counter.add()
        name = "\(Self.prefix)\(getpid())x\(serial)"
        self.count = count
        _ = Self.shell([Self.script, "sweep", Self.prefix])
        let (status, _, errors) = Self.shell([Self.script, "up", name, "\(count)"])
        guard status == 0 else { throw HostBedError(message: "hosts.sh up failed: \(errors)") }
    }

    /// Host `index`'s IPv4 address (hosts count from 1).
    package func address(_ index: Int) -> String { "198.18.0.\(10 + index)" }

    /// Host `index`'s IPv6 address.
    package func address6(_ index: Int) -> String { "fd00:198:18::\(10 + index)" }

    /// Runs one of the package's executables (or an absolute path) on host `index`.
    package func run(on index: Int, _ executable: String, _ arguments: [String], in folder: URL, withInput: Bool = false) throws -> ChildProcess {
        let path = executable.hasPrefix("/") ? executable : ChildProcess.binaries.appendingPathComponent(executable).path
        return try ChildProcess(Self.ip, ["netns", "exec", "\(name)-h\(index)", path] + arguments, in: folder, withInput: withInput)
    }

    /// Takes host `index`'s link down.
    package func cut(_ index: Int) throws { try script("cut", "\(index)") }

    /// Brings host `index`'s link back.
    package func heal(_ index: Int) throws { try script("heal", "\(index)") }

    /// Removes the bed (its processes are killed with it).
    package func destroy() {
        guard !destroyed else { return }
        destroyed = true
        _ = Self.shell([Self.script, "down", name])
    }

    deinit { destroy() }

    private func script(_ command: String, _ index: String) throws {
        let (status, _, errors) = Self.shell([Self.script, command, name, index])
        guard status == 0 else { throw HostBedError(message: "hosts.sh \(command) failed: \(errors)") }
    }

    private static let ip: String = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    private static let counter = Counter()

    private final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func add() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }

    /// Runs a command to completion: (status, stdout, stderr).
    private static func shell(_ arguments: [String]) -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash"] + arguments
        // One pipe for both: reading one to its end while the other fills could block the script.
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "", "\(error)") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, output)
    }
}

/// A host bed could not be made or changed.
package struct HostBedError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
    package init(message: String) { self.message = message }
}
