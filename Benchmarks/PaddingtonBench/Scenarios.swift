import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import Paddington
import PaddingtonTestSupport

struct Settings {
    var quick: Bool
    /// The wire protocols each mesh scenario runs with, in this order.
    var protocols: [WireProtocol]
    var repetitions: Int { quick ? 1 : 3 }
    func count(_ full: Int, quick small: Int) -> Int { quick ? small : full }
}

let smallPayload = String(repeating: "x", count: 100)

// MARK: - Throughput

/// Starts a ``MeshPair`` on `wire` and checks that its link negotiated it.
func startPair(
    _ wire: WireProtocol, options: MeshConfiguration = MeshConfiguration(), serverHandler: @escaping MessageHandler,
    clientHandler: @escaping MessageHandler = { _, _ in }
) async throws -> MeshPair {
    let pair = try await MeshPair.start(
        protocolPolicy: wire.policy, options: options, serverHandler: serverHandler, clientHandler: clientHandler)
    do {
        try wire.check(pair.serverInfo)
    } catch {
        await pair.stop()
        throw error
    }
    return pair
}

/// Sends `count` payloads one way, sequentially from one task; returns (messages/s, CPU µs per message).
///
/// `options` sets both meshes (``MeshConfiguration/metricsFactory`` for the metrics scenario).
func meshOneWay(
    payload: String, count: Int, wire: WireProtocol, options: MeshConfiguration = MeshConfiguration()
) async throws -> (rate: Double, cpu: Double) {
    let received = Latch()
    received.reset(target: count)
    let pair = try await startPair(wire, options: options, serverHandler: { _, _ in received.increment() })
    let cpu = cpuSeconds()
    let start = ContinuousClock.now
    for _ in 0..<count { try await pair.client.send(payload, to: "server") }
    await received.wait()
    let elapsed = seconds(ContinuousClock.now - start)
    let used = cpuSeconds() - cpu
    await pair.stop()
    return (Double(count) / elapsed, used / Double(count) * 1e6)
}

func plainOneWay(payload: String, count: Int) async throws -> (rate: Double, cpu: Double) {
    let received = Latch()
    received.reset(target: count)
    let server = try await PlainWebSocket.Server { _, _ in received.increment() }
    let connection = try await PlainWebSocket.connect(port: server.port)
    var result = (rate: 0.0, cpu: 0.0)
    try await connection.executeThenClose { _, outbound in
        let buffer = ByteBuffer(string: payload)
        let cpu = cpuSeconds()
        let start = ContinuousClock.now
        for _ in 0..<count { try await outbound.write(PlainWebSocket.clientFrame(buffer)) }
        await received.wait()
        let elapsed = seconds(ContinuousClock.now - start)
        result = (Double(count) / elapsed, (cpuSeconds() - cpu) / Double(count) * 1e6)
        try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer()))
    }
    await server.close()
    return result
}

/// Round trips with `window` requests in flight; returns round trips/s and CPU µs per round trip.
func meshEcho(count: Int, window size: Int, wire: WireProtocol) async throws -> (rate: Double, cpu: Double) {
    let window = Window(size: size)
    let received = Latch()
    received.reset(target: count)
    let pair = try await startPair(
        wire, serverHandler: { message, context in try await context.reply(message.payload) },
        clientHandler: { _, _ in
            received.increment()
            window.release()
        })
    let cpu = cpuSeconds()
    let start = ContinuousClock.now
    for _ in 0..<count {
        await window.acquire()
        try await pair.client.send(smallPayload, to: "server")
    }
    await received.wait()
    let elapsed = seconds(ContinuousClock.now - start)
    let used = cpuSeconds() - cpu
    await pair.stop()
    return (Double(count) / elapsed, used / Double(count) * 1e6)
}

func plainEcho(count: Int, window size: Int) async throws -> (rate: Double, cpu: Double) {
    let window = Window(size: size)
    let received = Latch()
    received.reset(target: count)
    let server = try await PlainWebSocket.Server { data, outbound in
        try await outbound.write(WebSocketFrame(fin: true, opcode: .text, data: data))
    }
    let connection = try await PlainWebSocket.connect(port: server.port)
    var result = (rate: 0.0, cpu: 0.0)
    try await connection.executeThenClose { inbound, outbound in
        let reader = Task {
            for try await frame in inbound {
                handOffFromEventLoop()
                guard frame.opcode == .text else { continue }
                received.increment()
                window.release()
            }
        }
        let buffer = ByteBuffer(string: smallPayload)
        let cpu = cpuSeconds()
        let start = ContinuousClock.now
        for _ in 0..<count {
            await window.acquire()
            try await outbound.write(PlainWebSocket.clientFrame(buffer))
        }
        await received.wait()
        let elapsed = seconds(ContinuousClock.now - start)
        result = (Double(count) / elapsed, (cpuSeconds() - cpu) / Double(count) * 1e6)
        try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer()))
        reader.cancel()
    }
    await server.close()
    return result
}

// MARK: - Latency

/// Sequential request/reply times in microseconds, sorted.
func meshLatency(count: Int, wire: WireProtocol) async throws -> [Double] {
    let window = Window(size: 0)
    let pair = try await startPair(
        wire, serverHandler: { message, context in try await context.reply(message.payload) },
        clientHandler: { _, _ in window.release() })
    var samples: [Double] = []
    samples.reserveCapacity(count)
    for _ in 0..<count {
        let start = ContinuousClock.now
        try await pair.client.send(smallPayload, to: "server")
        await window.acquire()
        samples.append(seconds(ContinuousClock.now - start) * 1e6)
    }
    await pair.stop()
    return samples.sorted()
}

func plainLatency(count: Int) async throws -> [Double] {
    let window = Window(size: 0)
    let server = try await PlainWebSocket.Server { data, outbound in
        try await outbound.write(WebSocketFrame(fin: true, opcode: .text, data: data))
    }
    let connection = try await PlainWebSocket.connect(port: server.port)
    var samples: [Double] = []
    try await connection.executeThenClose { inbound, outbound in
        let reader = Task {
            for try await frame in inbound {
                handOffFromEventLoop()
                if frame.opcode == .text { window.release() }
            }
        }
        let buffer = ByteBuffer(string: smallPayload)
        for _ in 0..<count {
            let start = ContinuousClock.now
            try await outbound.write(PlainWebSocket.clientFrame(buffer))
            await window.acquire()
            samples.append(seconds(ContinuousClock.now - start) * 1e6)
        }
        try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer()))
        reader.cancel()
    }
    await server.close()
    return samples.sorted()
}

// MARK: - Handshakes

/// `count` cycles of connect + handshake + first message delivered + close, `parallel` at a time.
/// Returns (cycles/s, sorted cycle times in ms).
func meshHandshakes(count: Int, parallel: Int, extraClients: Int = 0, wire: WireProtocol) async throws -> (rate: Double, times: [Double]) {
    var serverConfig = try ServiceConfiguration(name: "server", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
    serverConfig.protocolPolicy = wire.policy
    let watch = ProtocolWatch(wire)
    let anywhere = try IPAllowance(parsing: "127.0.0.1")
    // The benchmarking clients come last in configuration order: the worst case for trial decryption.
    for n in 0..<extraClients { try serverConfig.addClient("other\(n)", allowing: anywhere) }
    var invitations: [Invitation] = []
    for n in 0..<parallel { invitations.append(try serverConfig.addClient("client\(n)", allowing: anywhere)) }
    var options = MeshConfiguration()
    options.maxConnectionsPerAddress = 4096
    let server = Mesh(configuration: serverConfig, options: options, logger: quietLogger())
    let received = NIOLockedValueBox<[String: Latch]>([:])
    for n in 0..<parallel { received.withLockedValue { $0["client\(n)"] = Latch() } }
    server.onMessage { message, _ in received.withLockedValue { $0[message.sender] }?.increment() }
    let serverTask = Task { try? await server.run() }
    let drain = Task { [stream = server.events] in for await _ in stream {} }
    let port = try await server.listeningPort()

    let perWorker = count / parallel
    let start = ContinuousClock.now
    let times = try await withThrowingTaskGroup(of: [Double].self) { group in
        for worker in 0..<parallel {
            var invitation = invitations[worker]
            invitation.url = "ws://127.0.0.1:\(port)/"
            let latch = received.withLockedValue { $0["client\(worker)"]! }
            group.addTask {
                var config = try ServiceConfiguration(name: "client\(worker)", port: 0)
                config.protocolPolicy = wire.policy
                try config.addServer(invitation)
                var times: [Double] = []
                for cycle in 0..<perWorker {
                    let begin = ContinuousClock.now
                    let client = Mesh(configuration: config, logger: quietLogger())
                    let connected = Latch()
                    connected.reset(target: 1)
                    let events = Task { [stream = client.events] in
                        for await event in stream {
                            if case .peerConnected(let peer) = event {
                                watch.observe(peer)
                                connected.increment()
                            }
                        }
                    }
                    let running = Task { try? await client.run() }
                    await connected.wait()
                    latch.reset(target: 1)
                    try await client.send("hello \(cycle)", to: "server")
                    await latch.wait()
                    client.shutdown()
                    await running.value
                    await events.value
                    times.append(seconds(ContinuousClock.now - begin) * 1000)
                }
                return times
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all
    }
    let elapsed = seconds(ContinuousClock.now - start)
    server.shutdown()
    await serverTask.value
    await drain.value
    try watch.check()
    return (Double(times.count) / elapsed, times.sorted())
}

/// The same cycle with plain WebSocket: connect + upgrade + one frame delivered + close.
func plainHandshakes(count: Int, parallel: Int) async throws -> (rate: Double, times: [Double]) {
    let received = Latch()
    let server = try await PlainWebSocket.Server { _, _ in received.increment() }
    let perWorker = count / parallel
    let start = ContinuousClock.now
    let times = try await withThrowingTaskGroup(of: [Double].self) { group in
        for _ in 0..<parallel {
            group.addTask {
                var times: [Double] = []
                for _ in 0..<perWorker {
                    let begin = ContinuousClock.now
                    let before = received.count
                    let connection = try await PlainWebSocket.connect(port: server.port)
                    try await connection.executeThenClose { _, outbound in
                        try await outbound.write(PlainWebSocket.clientFrame(ByteBuffer(string: "hello")))
                        while received.count <= before { await Task.yield() }
                        try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: ByteBuffer()))
                    }
                    times.append(seconds(ContinuousClock.now - begin) * 1000)
                }
                return times
            }
        }
        var all: [Double] = []
        for try await part in group { all += part }
        return all
    }
    let elapsed = seconds(ContinuousClock.now - start)
    await server.close()
    return (Double(times.count) / elapsed, times.sorted())
}

// MARK: - Reconnect

/// Time from starting a new server on the same port (after the old one stopped) to the first message
/// delivered on the re-established link, in ms; median over `count` restarts.
func meshReconnect(count: Int, policy: ReconnectPolicy, wire: WireProtocol) async throws -> Double {
    var serverConfig = try ServiceConfiguration(name: "server", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
    serverConfig.protocolPolicy = wire.policy
    let watch = ProtocolWatch(wire)
    var invitation = try serverConfig.addClient("client", allowing: try IPAllowance(parsing: "127.0.0.1"))
    let options = MeshConfiguration(reconnect: policy)
    let first = Mesh(configuration: serverConfig, options: options, logger: quietLogger())
    var server = first
    var serverTask: Task<Void, Never> = Task { _ = try? await first.run() }
    let port = try await server.listeningPort()
    serverConfig.port = port
    invitation.url = "ws://127.0.0.1:\(port)/"
    var clientConfig = try ServiceConfiguration(name: "client", port: 0)
    clientConfig.protocolPolicy = wire.policy
    try clientConfig.addServer(invitation)
    let client = Mesh(configuration: clientConfig, options: options, logger: quietLogger())
    let connected = Latch()
    connected.reset(target: 1)
    let events = Task { [stream = client.events] in
        for await event in stream {
            if case .peerConnected(let peer) = event {
                watch.observe(peer)
                connected.increment()
            }
        }
    }
    let clientTask = Task { try? await client.run() }
    await connected.wait()
    var samples: [Double] = []
    for round in 0..<count {
        server.shutdown()
        await serverTask.value
        // Wait until the client has noticed.
        while !client.connectedPeers.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        let delivered = Latch()
        delivered.reset(target: 1)
        let start = ContinuousClock.now
        server = Mesh(configuration: serverConfig, options: options, logger: quietLogger())
        server.onMessage { _, _ in delivered.increment() }
        let next = server
        serverTask = Task { _ = try? await next.run() }
        connected.reset(target: 1)
        await connected.wait()
        try await client.send("after restart \(round)", to: "server")
        await delivered.wait()
        samples.append(seconds(ContinuousClock.now - start) * 1000)
    }
    client.shutdown()
    server.shutdown()
    await clientTask.value
    await serverTask.value
    await events.value
    try watch.check()
    return median(samples)
}
