import Foundation
import Paddington

/// Where an agent's control socket lives.
///
/// By default `$XDG_RUNTIME_DIR/paddington/NAME.sock` when `XDG_RUNTIME_DIR` is set, else
/// `/tmp/paddington-UID/NAME.sock`, where NAME is the service's name: a directory of the user's own,
/// created mode 0700, so nobody else can reach the socket even before it is made 0600.
public enum ControlPath {
    /// The default path for the service named `name`.
    public static func `default`(for name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        "\(directory(environment: environment))/\(name).sock"
    }

    /// The default directory.
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return "\(runtime)/paddington" }
        return "/tmp/paddington-\(getuid())"
    }

    /// Creates the default directory (0700) when `path` is in it, and checks that it is this user's
    /// and closed to others.
    ///
    /// - Throws: `PaddingtonError.Code.fileSystem` when it cannot be made, or is not private.
    static func prepareDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard directory == Self.directory() else { return }
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw PaddingtonError(.fileSystem, "cannot create the control socket directory \(directory): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw PaddingtonError(.fileSystem, "\(directory) is not a directory")
        }
        guard info.st_uid == getuid(), info.st_mode & 0o077 == 0 else {
            throw PaddingtonError(.fileSystem, "\(directory) must belong to this user and be closed to others (mode 0700)")
        }
    }
}
