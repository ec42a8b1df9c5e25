import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Paddington
import PaddingtonTestSupport

/// Idle peers held by one server process: the clients run in a child process (this binary, in a
/// hidden mode), so the server's resident memory is measured alone.
func meshPeers(count: Int, wire: WireProtocol) async throws -> (bytesPerPeer: Double, fanOutMs: Double, connectSeconds: Double) {
    var serverConfig = try ServiceConfiguration(name: "server", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
    serverConfig.protocolPolicy = wire.policy
    let anywhere = try IPAllowance(parsing: "127.0.0.1")
    var lines: [String] = []
    for n in 0..<count {
        let invitation = try serverConfig.addClient("peer\(n)", allowing: anywhere)
        lines.append("peer\(n) \(invitation.keys.inner.exposeHex()) \(invitation.keys.outer.exposeHex())")
    }
    var options = MeshConfiguration()
    options.maxConnectionsPerAddress = count * 2
    options.maxPendingHandshakes = count * 2
    let server = Mesh(configuration: serverConfig, options: options, logger: quietLogger())
    let connected = Latch()
    connected.reset(target: count)
    let watch = ProtocolWatch(wire)
    let events = Task { [stream = server.events] in
        for await event in stream {
            if case .peerConnected(let peer) = event {
                watch.observe(peer)
                connected.increment()
            }
        }
    }
    let serverTask = Task { try? await server.run() }
    let port = try await server.listeningPort()
    // The keys go to the children through private files, removed at once.
    let halves = [Array(lines[..<(count / 2)]), Array(lines[(count / 2)...])]
    var specs: [URL] = []
    defer { for spec in specs { try? FileManager.default.removeItem(at: spec) } }
    for (n, half) in halves.enumerated() {
        let spec = FileManager.default.temporaryDirectory.appendingPathComponent("paddington-bench-peers-\(getpid())-\(n)")
        let descriptor = open(spec.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw BenchError("cannot write \(spec.path)") }
        specs.append(spec)
        let text = Array((["\(port)"] + half).joined(separator: "\n").utf8)
        _ = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }

    let start = ContinuousClock.now
    var children: [ChildProcess] = []
    defer { for child in children { child.stop() } }
    let resident = try await measureHalves(halves.map(\.count), connected: connected) { n in
        children.append(try startChild(["mesh-peers-child", specs[n].path, wire.policy.description]))
    }
    let connectSeconds = seconds(ContinuousClock.now - start)

    // One message to each peer; each child prints a line when it has them all.
    let fanOut = ContinuousClock.now
    try await withThrowingDiscardingTaskGroup { group in
        for n in 0..<count { group.addTask { try await server.send("hello", to: "peer\(n)") } }
    }
    for (child, half) in zip(children, halves) { try await child.waitForLine("received \(half.count)") }
    let fanOutMs = seconds(ContinuousClock.now - fanOut) * 1000
    server.shutdown()
    await serverTask.value
    await events.value
    try watch.check()
    return (resident, fanOutMs, connectSeconds)
}

/// The child side: one Mesh per peer, each dialling the server with `policy`; prints `received N` when
/// every peer has had a message.
func meshPeersChild(specPath: String, policy: ProtocolPolicy) async throws {
    let text = try String(contentsOfFile: specPath, encoding: .utf8)
    var lines = text.split(separator: "\n").map(String.init)
    guard let port = Int(lines.removeFirst()) else { throw BenchError("bad spec") }
    let received = Latch()
    received.reset(target: lines.count)
    var meshes: [Mesh] = []
    for line in lines {
        let parts = line.split(separator: " ").map(String.init)
        let keys = EnvelopeKeys(inner: try SecretKey(hex: parts[1]), outer: try SecretKey(hex: parts[2]))
        var config = try ServiceConfiguration(name: parts[0], port: 0)
        config.protocolPolicy = policy
        try config.addServer(try Invitation(name: "server", url: "ws://127.0.0.1:\(port)/", zone: "default", keys: keys))
        let mesh = Mesh(configuration: config, logger: quietLogger())
        mesh.onMessage { _, _ in received.increment() }
        meshes.append(mesh)
    }
    try await withThrowingDiscardingTaskGroup { group in
        for mesh in meshes { group.addTask { try await mesh.run() } }
        await received.wait()
        print("received \(lines.count)")
        fflush(nil)
        // Stay connected until the parent stops us.
        try await Task.sleep(for: .seconds(600))
    }
}

/// The same with plain WebSocket connections.
func plainPeers(count: Int) async throws -> (bytesPerPeer: Double, fanOutMs: Double) {
    let writers = NIOLockedValueBox<[NIOAsyncChannelOutboundWriter<WebSocketFrame>]>([])
    let connected = Latch()
    connected.reset(target: count)
    let server = try await PlainWebSocket.Server { data, outbound in
        if String(buffer: data) == "hello" {
            writers.withLockedValue { $0.append(outbound) }
            connected.increment()
        }
    }
    let halves = [count / 2, count - count / 2]
    var children: [ChildProcess] = []
    defer { for child in children { child.stop() } }
    let resident = try await measureHalves(halves, connected: connected) { n in
        children.append(try startChild(["plain-peers-child", "\(server.port)", "\(halves[n])"]))
    }
    let fanOut = ContinuousClock.now
    for writer in writers.withLockedValue({ $0 }) {
        try await writer.write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: "hello")))
    }
    for (child, half) in zip(children, halves) { try await child.waitForLine("received \(half)") }
    let fanOutMs = seconds(ContinuousClock.now - fanOut) * 1000
    await server.close()
    return (resident, fanOutMs)
}

func plainPeersChild(port: Int, count: Int) async throws {
    let received = Latch()
    received.reset(target: count)
    try await withThrowingDiscardingTaskGroup { group in
        for _ in 0..<count {
            group.addTask {
                let connection = try await PlainWebSocket.connect(port: port)
                try await connection.executeThenClose { inbound, outbound in
                    try await outbound.write(PlainWebSocket.clientFrame(ByteBuffer(string: "hello")))
                    for try await frame in inbound {
                        handOffFromEventLoop()
                        guard frame.opcode == .text else { continue }
                        received.increment()
                    }
                }
            }
        }
        await received.wait()
        print("received \(count)")
        fflush(nil)
        try await Task.sleep(for: .seconds(600))
    }
}

/// The server's resident memory per peer, measured as a slope: the first half of the peers connects
/// (child 0), then the second (child 1), and only the growth over the second half counts. The first
/// connections of a process grow its allocator's arenas and caches, by an amount that depends on what
/// ran before (a plain server measured as the first scenario of a process came to 13.5 KiB per peer,
/// after others to 3.7); the second half pays for its peers alone. `connected` counts the server's
/// connections; `start(n)` starts child `n`. Returns bytes per peer of the second half.
func measureHalves(_ halves: [Int], connected: Latch, start: (Int) throws -> Void) async throws -> Double {
    var resident: [Int] = []
    for (n, half) in halves.enumerated() {
        connected.reset(target: half)
        try start(n)
        await connected.wait()
        // Let the handshakes' garbage go and the idle state settle before reading the resident size.
        try await Task.sleep(for: .milliseconds(500))
        resident.append(residentBytes())
    }
    return Double(resident[1] - resident[0]) / Double(halves[1])
}

/// The server side of the peers scenario for one variant (`plain`, `1` or `2`), run in a child process
/// of its own (`peers-server`); returns what it printed.
func peersInFreshProcess(_ variant: String, count: Int) async throws -> (bytesPerPeer: Double, fanOutMs: Double, connectSeconds: Double) {
    let child = try startChild(["peers-server", variant, "\(count)"])
    let status = await child.waitForExit(timeout: .seconds(300))
    if status == nil { child.stop() }
    let fields = child.stdout.split(whereSeparator: \.isWhitespace)
    guard status == 0, fields.count == 4, fields[0] == "peers-result",
        let bytes = Double(fields[1]), let fanOut = Double(fields[2]), let connect = Double(fields[3])
    else {
        throw BenchError("the peers server for \(variant) failed (status \(status.map(String.init) ?? "none")); \(child.outputTails)")
    }
    return (bytes, fanOut, connect)
}

/// The `peers-server` child mode: measures one variant and prints `peers-result BYTES FANOUT_MS CONNECT_S`.
func peersServer(variant: String, count: Int) async throws {
    let result: (bytesPerPeer: Double, fanOutMs: Double, connectSeconds: Double)
    if variant == "plain" {
        let plain = try await plainPeers(count: count)
        result = (plain.bytesPerPeer, plain.fanOutMs, .nan)
    } else if let number = Int(variant), let wire = WireProtocol(rawValue: number) {
        result = try await meshPeers(count: count, wire: wire)
    } else {
        throw BenchError("unknown peers variant \(variant)")
    }
    print("peers-result \(result.bytesPerPeer) \(result.fanOutMs) \(result.connectSeconds)")
    fflush(nil)
}

/// This binary, started again in a child mode, with its output watched.
func startChild(_ arguments: [String]) throws -> ChildProcess {
    try ChildProcess(CommandLine.arguments[0], arguments, in: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
}

extension ChildProcess {
    /// Waits for `text` on the child's output; throws when it does not come.
    func waitForLine(_ text: String, timeout: Duration = .seconds(120)) async throws {
        guard await waitUntilOutput(contains: text, timeout: timeout) else {
            throw BenchError("no '\(text)' from the child; \(outputTails)")
        }
    }

    func stop() {
        kill(SIGTERM)
        process.waitUntilExit()
    }
}
