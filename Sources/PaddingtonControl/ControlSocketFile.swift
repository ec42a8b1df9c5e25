import Foundation
import Paddington

#if canImport(Glibc)
import Glibc
#endif

/// The control socket's file: taken only when free (never a live agent's, never a file that is not a
/// socket), made 0600 before anyone can reach it, and removed at the end only if it is still ours.
enum ControlSocketFile {
    /// The file's identity once published, to remove only our own.
    struct Identity: Sendable {
        var device: UInt64
        var inode: UInt64
    }

    /// Refuses a path that holds a live socket or something else; removes a stale socket.
    static func clear(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw PaddingtonError(.fileSystem, "\(path) exists and is not a socket; not touching it")
        }
        switch probe(path) {
        case 0:
            throw PaddingtonError(.fileSystem, "another agent is serving the control socket \(path); pass another --control path")
        case ECONNREFUSED:
            unlink(path)
        case let error:
            throw PaddingtonError(.fileSystem, "cannot tell whether \(path) is in use (\(String(cString: strerror(error)))); not touching it")
        }
    }

    /// A private place to bind before the socket is published at `path`: a new 0700 directory beside
    /// it, so the socket is made 0600 before anyone else can reach it. Nil when that path would be too
    /// long for a Unix socket (then the socket is bound in place and made 0600 right after).
    static func privateBindPath(beside path: String) throws -> (directory: String, socket: String)? {
        let directory = (path as NSString).deletingLastPathComponent
        var template = Array(((directory.isEmpty ? "." : directory) + "/.pdXXXXXX").utf8CString)
        guard template.count + 2 < 104 else { return nil }
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            throw PaddingtonError(.fileSystem, "cannot make a private directory beside \(path): \(String(cString: strerror(errno)))")
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (temporary, temporary + "/s")
    }

    /// Publishes the socket bound at `socket` under `path` without replacing anything there, and
    /// removes the private directory.
    static func publish(_ socket: String, directory: String, at path: String) throws {
        defer {
            unlink(socket)
            rmdir(directory)
        }
        if link(socket, path) != 0 {
            guard errno == EEXIST else {
                throw PaddingtonError(.fileSystem, "cannot place the control socket at \(path): \(String(cString: strerror(errno)))")
            }
            // Taken meanwhile: by a stale socket (cleared) or by a live agent (refused).
            try clear(path)
            guard link(socket, path) == 0 else {
                throw PaddingtonError(.fileSystem, "cannot place the control socket at \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func identity(of path: String) -> Identity? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Removes `path` if it is still the socket we published.
    static func remove(_ path: String, ifStill identity: Identity?) {
        guard let identity, let now = self.identity(of: path), now.device == identity.device, now.inode == identity.inode else { return }
        unlink(path)
    }

    /// Connects to the socket at `path`: 0 when something accepts, else the errno.
    private static func probe(_ path: String) -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let fits = withUnsafeMutableBytes(of: &address.sun_path) { raw -> Bool in
            guard bytes.count < raw.count else { return false }
            raw.copyBytes(from: bytes)
            return true
        }
        guard fits else { return ENAMETOOLONG }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? 0 : errno
    }
}
