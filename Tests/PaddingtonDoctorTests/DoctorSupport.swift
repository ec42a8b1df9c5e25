import Foundation
import Logging
import Paddington
import PaddingtonDoctor
import PaddingtonTestSupport

/// A scratch folder with a service configuration in it, and a doctor for it.
struct DoctorScratch {
    let folder: URL
    var configPath: String { folder.appendingPathComponent("service.toml").path }
    var invitations: String { folder.appendingPathComponent("invitations").path }

    init() throws {
        folder = try temporaryFolder()
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }

    /// Writes `configuration` to service.toml (mode 0600) and returns its path.
    @discardableResult
    func write(_ configuration: ServiceConfiguration) throws -> String {
        try configuration.save(to: configPath)
        return configPath
    }

    /// Writes raw text with a mode.
    func writeText(_ text: String, to path: String, mode: Int = 0o600) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try chmod(path, mode)
    }

    func chmod(_ path: String, _ mode: Int) throws {
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    func doctor(
        control: String? = nil, timeout: Duration = .seconds(10), checkServers: Bool = true,
        resolve: (@Sendable (String) async throws -> [String])? = nil
    ) -> Doctor {
        var configuration = DoctorConfiguration(
            configPath: configPath, controlPath: control ?? folder.appendingPathComponent("none.sock").path,
            timeout: timeout, checkServers: checkServers)
        if let resolve { configuration.resolve = resolve }
        return Doctor(configuration: configuration, logger: quietLogger("doctor"))
    }
}

extension Array where Element == DoctorCheck {
    /// The results of one check, by its id.
    func named(_ check: String) -> [DoctorCheck] { filter { $0.check == check } }

    /// The one result of `check`, or nil.
    func one(_ check: String) -> DoctorCheck? {
        let found = named(check)
        return found.count == 1 ? found[0] : nil
    }

    var lines: String { map(\.line).joined(separator: "\n") }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns whether it held.
func eventually(within limit: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}
