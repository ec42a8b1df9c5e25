import Logging
import NIOCore
import NIOPosix
import Paddington
import PaddingtonHealth
import PaddingtonTestSupport
import Prometheus
import ServiceLifecycle
import Testing

@Suite("Health server")
struct HealthServerTests {
    /// Runs a health server on 127.0.0.1, port 0, for `body`, then shuts it down gracefully.
    private func withServer(
        _ configuration: HealthServer.Configuration = .init(host: "127.0.0.1", port: 0),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        workers: @escaping @Sendable () -> Int = { 3 },
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (Int) async throws -> Void
    ) async throws {
        let server = HealthServer(
            configuration: configuration, registry: registry, workers: workers, eventLoopGroup: eventLoopGroup, logger: quietLogger("health"))
        let group = ServiceGroup(services: [server], logger: quietLogger("group"))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        let port = try await server.port()
        try await body(port)
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// One request on a new connection; returns the whole response once the server closes it.
    private func exchange(_ request: String, port: Int) async throws -> String {
        let connection = try await RawConnection(port: port)
        try await connection.send(request)
        #expect(await connection.waitForClose(timeout: .seconds(10)))
        return connection.receivedText
    }

    private func get(_ path: String, method: String = "GET") -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    }

    private func split(_ response: String) -> (head: [String], body: String) {
        let parts = response.components(separatedBy: "\r\n\r\n")
        let head = parts.first?.components(separatedBy: "\r\n") ?? []
        return (head, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test("GET /health answers as the Rust crate: 200, application/json, status and workers")
    func health() async throws {
        try await withServer { port in
            let (head, body) = split(try await exchange(get("/health"), port: port))
            #expect(head.first == "HTTP/1.1 200 OK")
            let headers = head.dropFirst().map { $0.lowercased() }
            #expect(headers.contains("content-type: application/json"))
            #expect(headers.contains("content-length: \(body.utf8.count)"))
            #expect(headers.contains { $0.hasPrefix("date: ") && $0.hasSuffix(" gmt") })
            #expect(body == #"{"status":"ok","workers":3}"#)
        }
    }

    @Test("keep-alive: two requests on one connection, and HEAD has the headers but no body")
    func keepAliveAndHead() async throws {
        try await withServer { port in
            let connection = try await RawConnection(port: port)
            try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\nHEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
            // Both answers: the second (HEAD) has no body, so its head is the last thing to arrive.
            let both = await poll(timeout: .seconds(10)) { connection.receivedText.components(separatedBy: "HTTP/1.1 200 OK").count == 3 }
            #expect(both)
            let text = connection.receivedText
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(text.components(separatedBy: #"{"status":"ok""#).count == 2)
            #expect(connection.channel.isActive)
            await connection.close()
        }
    }

    @Test("unknown path: 404; other method: 405 with Allow")
    func notFoundAndMethod() async throws {
        try await withServer { port in
            let missing = try await exchange(get("/nothing"), port: port)
            #expect(missing.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
            let post = try await exchange("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", port: port)
            #expect(post.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
            #expect(post.lowercased().contains("allow: get,head"))
            let delete = try await exchange(get("/metrics", method: "DELETE"), port: port)
            #expect(delete.hasPrefix("HTTP/1.1 405 "))
        }
    }

    @Test("a request that is not HTTP gets 400 and the connection is closed")
    func malformed() async throws {
        try await withServer { port in
            let response = try await exchange("\u{1}\u{2}garbage\r\n\r\n", port: port)
            #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
            // The server still serves the next client.
            #expect(try await exchange(get("/health"), port: port).hasPrefix("HTTP/1.1 200 OK"))
        }
    }

    @Test("a request head over the limit gets 400 and the connection is closed")
    func oversized() async throws {
        try await withServer(.init(host: "127.0.0.1", port: 0, maxRequestHeadBytes: 1024)) { port in
            let big = "GET /health HTTP/1.1\r\nHost: x\r\nX-Filler: \(String(repeating: "a", count: 4096))\r\n\r\n"
            let response = try await exchange(big, port: port)
            #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
            #expect(!response.contains("workers"))
        }
    }

    @Test("a client that sends nothing is closed after the idle timeout")
    func idle() async throws {
        try await withServer(.init(host: "127.0.0.1", port: 0, idleTimeout: .milliseconds(300))) { port in
            let start = ContinuousClock.now
            let connection = try await RawConnection(port: port)
            #expect(await connection.waitForClose(timeout: .seconds(10)))
            #expect(ContinuousClock.now - start >= .milliseconds(300))
            #expect(connection.received.isEmpty)
        }
    }

    @Test("a request body over the limit gets 400 and the connection is closed")
    func bodyTooLong() async throws {
        try await withServer(.init(host: "127.0.0.1", port: 0, maxRequestHeadBytes: 1024)) { port in
            let body = String(repeating: "b", count: 2048)
            let response = try await exchange(
                "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)", port: port)
            #expect(response.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(response)")
            #expect(!response.contains("405"))
        }
    }

    @Test("a client trickling a request slower than the request timeout gets 408 and is closed; others are served meanwhile")
    func slowRequest() async throws {
        // A loop of its own for the server and both clients: the other tests' I/O cannot delay them.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { loop.shutdownGracefully { _ in } }
        let limits = HealthServer.Configuration(host: "127.0.0.1", port: 0, idleTimeout: .seconds(30), requestTimeout: .seconds(2))
        try await withServer(limits, eventLoopGroup: loop) { port in
            // Taken before the connection exists, so at or before the server's deadline starts.
            let start = ContinuousClock.now
            let slow = try await RawConnection(port: port, group: loop)
            try await slow.send("GET /health HTTP/1.1\r\n")
            // One header byte every 100 ms: the idle timeout (30 s) never fires, the request never ends.
            let trickle = Task {
                let deadline = ContinuousClock.now + .seconds(10)
                while slow.channel.isActive, ContinuousClock.now < deadline {
                    try? await slow.send("X")
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            defer { trickle.cancel() }
            // A well-behaved client is served while the slow one trickles (its request is sent from the
            // event loop, so a busy test process cannot make it slow too).
            let normal = try await RawConnection(port: port, script: [(.zero, Array(get("/health").utf8))], group: loop)
            #expect(await normal.waitForClose(timeout: .seconds(10)))
            #expect(normal.receivedText.hasPrefix("HTTP/1.1 200 OK"), "\(normal.receivedText)")
            #expect(await slow.waitForClose(timeout: .seconds(10)))
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .seconds(2), "closed after \(elapsed)")
            #expect(slow.receivedText.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(slow.receivedText)")
            #expect(slow.receivedText.lowercased().contains("connection: close"))
        }
    }

    @Test("the request timeout starts again after each response: a keep-alive client outlives it")
    func requestTimeoutRestarts() async throws {
        // A loop of its own for the server and the client: the other tests' I/O cannot delay them.
        let loop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { loop.shutdownGracefully { _ in } }
        try await withServer(.init(host: "127.0.0.1", port: 0, requestTimeout: .seconds(2)), eventLoopGroup: loop) { port in
            // Six requests 500 ms apart, timed on the event loop: each comes well within the timeout of the
            // previous answer, and all of them take longer than the timeout.
            let request = Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            let connection = try await RawConnection(
                port: port, script: (0..<6).map { (.milliseconds(500 * Int64($0)), request) }, group: loop)
            let answered = await poll(timeout: .seconds(15)) {
                connection.receivedText.components(separatedBy: "HTTP/1.1 200 OK").count == 7 || !connection.channel.isActive
            }
            #expect(answered)
            #expect(connection.receivedText.components(separatedBy: "HTTP/1.1 200 OK").count == 7, "\(connection.receivedText)")
            #expect(!connection.receivedText.contains("408"))
            #expect(connection.channel.isActive)
            await connection.close()
        }
    }

    @Test("one connection more than maxConnections is closed unanswered; a slot freed serves again")
    func tooManyConnections() async throws {
        let limits = HealthServer.Configuration(
            host: "127.0.0.1", port: 0, idleTimeout: .seconds(60), requestTimeout: .seconds(60), maxConnections: 2)
        try await withServer(limits) { port in
            // Two keep-alive clients, each answered once, so both hold a slot.
            var held: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try await RawConnection(port: port)
                try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(await connection.waitForText("workers", timeout: .seconds(10)))
                held.append(connection)
            }
            let third = try await RawConnection(port: port)
            try? await third.send(get("/health"))
            #expect(await third.waitForClose(timeout: .seconds(10)))
            #expect(!third.receivedText.contains("200 OK"), "\(third.receivedText)")
            #expect(held.allSatisfy { $0.channel.isActive })
            // Once a held connection ends its slot is released (asynchronously): a new client is served.
            await held[0].close()
            let served = await poll(timeout: .seconds(10)) {
                (try? await exchange(get("/health"), port: port))?.hasPrefix("HTTP/1.1 200 OK") == true
            }
            #expect(served)
            await held[1].close()
        }
    }

    @Test("a port already taken: run() and port() fail with a transport error")
    func bindFailure() async throws {
        try await withServer { port in
            let second = HealthServer(
                configuration: .init(host: "127.0.0.1", port: port), registry: PrometheusCollectorRegistry(), workers: { 0 },
                logger: quietLogger("health"))
            await #expect { try await second.run() } throws: { ($0 as? PaddingtonError)?.code == .transport }
            await #expect { try await second.port() } throws: { ($0 as? PaddingtonError)?.code == .transport }
        }
    }

    @Test("GET /metrics after a real exchange: links up, messages, frames and bytes with fixed labels")
    func metricsAfterExchange() async throws {
        let serverRegistry = PrometheusCollectorRegistry()
        let received = Latch()
        received.reset(target: 3)
        var options = MeshConfiguration()
        options.metricsFactory = PrometheusMetricsFactory(registry: serverRegistry)
        let pair = try await MeshPair.start(options: options, serverHandler: { _, _ in received.increment() })
        for n in 0..<3 { try await pair.client.send("hello \(n)", to: "server") }
        try await withTimeout(.seconds(10)) { await received.wait() }
        try await withServer(registry: serverRegistry, workers: { pair.server.runningHandlers }) { port in
            let (head, body) = split(try await exchange(get("/metrics"), port: port))
            #expect(head.first == "HTTP/1.1 200 OK")
            #expect(head.contains { $0.lowercased() == "content-type: text/plain; version=0.0.4; charset=utf-8" })
            let version = pair.serverInfo.protocolVersion
            let link = #"service="server",peer="client",zone="default""#
            #expect(body.contains("# TYPE paddington_links_up gauge"))
            #expect(body.contains(#"paddington_links_up{\#(link),direction="in",protocol="\#(version)"} 1"#))
            #expect(body.contains(#"paddington_messages_total{\#(link),direction="in",protocol="\#(version)"} 3"#))
            #expect(body.contains(#"paddington_messages_total{\#(link),direction="out",protocol="\#(version)"} 0"#))
            #expect(body.contains(#"paddington_handshakes_total{service="server",direction="in",protocol="\#(version)",outcome="ok",reason="none"} 1"#))
            #expect(body.contains("paddington_frames_total{\(link),direction=\"in\""))
            #expect(body.contains("paddington_bytes_total{\(link),direction=\"out\""))
            #expect(body.contains("paddington_send_queue_bytes{\(link),protocol="))
            // MeshPair gives both meshes the same options, so the client's side is in this registry too,
            // apart by its service label: it dialled (`out`) and sent the three messages.
            let client = #"service="client",peer="server",zone="default""#
            #expect(body.contains(#"paddington_links_up{\#(client),direction="out",protocol="\#(version)"} 1"#))
            #expect(body.contains(#"paddington_messages_total{\#(client),direction="out",protocol="\#(version)"} 3"#))
            #expect(body.contains(#"paddington_handshakes_total{service="client",direction="out",protocol="\#(version)",outcome="ok",reason="none"} 1"#))
        }
        await pair.stop()
        // After the link went down the gauge reads 0, and the disconnection is counted with its reason.
        let after = serverRegistry.emitToString()
        #expect(after.contains(#"paddington_links_up{service="server",peer="client",zone="default",direction="in",protocol="\#(pair.serverInfo.protocolVersion)"} 0"#))
        #expect(after.contains("paddington_disconnections_total{service=\"server\",peer=\"client\""))
    }

    @Test("a failed handshake is counted with its outcome and reason")
    func handshakeFailureCounted() async throws {
        let registry = PrometheusCollectorRegistry()
        var config = try ServiceConfiguration(name: "lonely", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        try config.addClient("someone", allowing: try IPAllowance(parsing: "127.0.0.1"))
        var options = MeshConfiguration()
        options.metricsFactory = PrometheusMetricsFactory(registry: registry)
        let mesh = Mesh(configuration: config, options: options, logger: quietLogger("lonely"))
        let running = Task { try await mesh.run() }
        let port = try await mesh.listeningPort()
        // Not a WebSocket upgrade: refused before any handshake.
        let connection = try await RawConnection(port: port)
        try await connection.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = await connection.waitForClose(timeout: .seconds(10))
        let deadline = ContinuousClock.now + .seconds(10)
        while !registry.emitToString().contains("outcome=\"failed\""), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let text = registry.emitToString()
        #expect(text.contains(#"paddington_handshakes_total{service="lonely",direction="in",protocol="unknown",outcome="failed",reason=""#))
        mesh.shutdown()
        try await running.value
    }
}

/// Runs `body`, failing after `timeout`.
private func withTimeout(_ timeout: Duration, _ body: @escaping @Sendable () async -> Void) async throws {
    try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask { await body(); return true }
        group.addTask { try await Task.sleep(for: timeout); return false }
        let finished = try await group.next() ?? false
        group.cancelAll()
        #expect(finished, "timed out after \(timeout)")
    }
}

/// Checks `condition` every 20 ms until it holds (true) or `timeout` passes (false).
private func poll(timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
