import Foundation
import PaddingtonTestSupport
import Testing

/// `paddington run` with `heathcheck_port`: the health server beside the mesh, in a real process.
@Suite("paddington run: health and metrics endpoint")
struct HealthEndpointTests {
    func paddington(_ arguments: [String], in folder: URL) async throws -> (Int32, String, String) {
        try await ChildProcess.run("paddington", arguments, in: folder)
    }

    @Test("heathcheck_port = 0: the bound port is printed, /health and /metrics answer, a link shows in the metrics")
    func healthAndMetrics() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        _ = try await paddington(["init", "--name", "alpha", "--url", "http://127.0.0.1:\(port)", "--port", "\(port)", "--config", "alpha.toml"], in: folder)
        _ = try await paddington(["invite", "beta", "--ip", "127.0.0.1", "--config", "alpha.toml", "--out", "beta-invite.toml"], in: folder)
        _ = try await paddington(["init", "--name", "beta", "--port", "0", "--config", "beta.toml"], in: folder)
        _ = try await paddington(["accept", "beta-invite.toml", "--config", "beta.toml"], in: folder)
        let file = folder.appendingPathComponent("alpha.toml")
        let text = try String(contentsOf: file, encoding: .utf8)
        try ("heathcheck_port = 0\n" + text).write(to: file, atomically: true, encoding: .utf8)

        let alpha = try ChildProcess("paddington", ["run", "--config", "alpha.toml", "--no-control"], in: folder, withInput: true)
        #expect(await alpha.waitForOutput(#"{"event":"health","host":"127.0.0.1","port":"#))
        let line = alpha.stdout.split(separator: "\n").first { $0.contains(#""event":"health""#) }
        let healthPort = line.flatMap { $0.split(separator: ":").last?.dropLast() }.flatMap { Int($0) }
        try #require(healthPort != nil, "\(alpha.outputTails)")
        let beta = try ChildProcess("paddington", ["run", "--config", "beta.toml", "--no-control"], in: folder, withInput: true)
        #expect(await alpha.waitForOutput(#""event":"connected","peer":"beta""#))
        beta.send(line: "alpha one")
        #expect(await alpha.waitForOutput(#""payload":"one""#))

        // The handler that took "one" releases its slot just after printing it: poll until it has, bounded.
        var health = try await HTTPProbe.get("/health", port: healthPort ?? 0)
        let deadline = ContinuousClock.now + .seconds(10)
        while !health.hasSuffix(#""workers":0}"#), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            health = try await HTTPProbe.get("/health", port: healthPort ?? 0)
        }
        #expect(health.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(health)")
        #expect(health.lowercased().contains("content-type: application/json"))
        #expect(health.hasSuffix(#"{"status":"ok","workers":0}"#), "\(health)")

        let metrics = try await HTTPProbe.get("/metrics", port: healthPort ?? 0)
        #expect(metrics.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(metrics)")
        #expect(metrics.contains(#"paddington_links_up{service="alpha",peer="beta",zone="default",direction="in",protocol="2"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"paddington_messages_total{service="alpha",peer="beta",zone="default",direction="in",protocol="2"} 1"#), "\(metrics)")

        #expect(try await HTTPProbe.get("/other", port: healthPort ?? 0).hasPrefix("HTTP/1.1 404 "))

        for process in [beta, alpha] { process.kill(SIGTERM) }
        for process in [beta, alpha] { #expect(await process.waitForExit() == 0) }
    }

    @Test("a health port that is taken: the run fails with the reason")
    func portTaken() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let port = try freePort()
        _ = try await paddington(["init", "--name", "alpha", "--url", "http://127.0.0.1:\(port)", "--port", "\(port)", "--config", "alpha.toml"], in: folder)
        let file = folder.appendingPathComponent("alpha.toml")
        let text = try String(contentsOf: file, encoding: .utf8)
        let (holder, taken) = try HTTPProbe.listen()
        defer { close(holder) }
        try ("heathcheck_port = \(taken)\n" + text).write(to: file, atomically: true, encoding: .utf8)
        let alpha = try ChildProcess("paddington", ["run", "--config", "alpha.toml", "--no-control"], in: folder, withInput: true)
        #expect(await alpha.waitForExit() != 0)
        #expect(alpha.stdout.contains("cannot bind the health server") || alpha.stderr.contains("cannot bind the health server"),
                "\(alpha.outputTails)")
    }
}

/// One HTTP/1.1 request over a plain socket to 127.0.0.1, read to the server's close (10 s at most
/// without a byte).
enum HTTPProbe {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A socket listening on 127.0.0.1 at a free port: the descriptor and the port.
    static func listen() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && Glibc.listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw Failure(description: "bind/listen failed")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// `GET path` and the whole response. The blocking socket calls run on a thread of their own, not on
    /// the (two-thread) cooperative pool, which other tests need meanwhile.
    static func get(_ path: String, port: Int) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try blockingGet(path, port: port) })
            }.start()
        }
    }

    private static func blockingGet(_ path: String, port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect to port \(port) failed") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { throw Failure(description: "send failed") }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 { response += buffer[..<count] } else if count == 0 { break } else { throw Failure(description: "recv failed or timed out") }
        }
        return String(decoding: response, as: UTF8.self)
    }
}
