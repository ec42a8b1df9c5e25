import Foundation
import Paddington

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory lock on a configuration file (`flock` on `FILE.lock` beside it), held while a command
/// or a running agent reads, changes and writes the file, so that neither undoes the other's change
/// (`paddington accept` while the agent stores keys a server sent, say). The lock file stays; it holds
/// nothing.
enum ConfigurationLock {
    static func withLock<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let lockPath = path + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw PaddingtonError(.fileSystem, "cannot open the lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        // Bounded: a stuck holder (a process stopped in a debugger) gets an error, not a hang.
        let deadline = Date().addingTimeInterval(10)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, Date() < deadline else {
                throw PaddingtonError(.fileSystem, "\(path) is locked by another paddington command or agent (\(lockPath)); try again")
            }
            usleep(10_000)
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}
