import Foundation
import Logging
import NIOConcurrencyHelpers
import Paddington

/// Counts events and lets one task wait until a target is reached.
final class Latch: Sendable {
    private let state = NIOLockedValueBox<(count: Int, target: Int, waiter: CheckedContinuation<Void, Never>?)>((0, .max, nil))

    func reset(target: Int) { state.withLockedValue { $0 = (0, target, nil) } }

    func increment() {
        let waiter = state.withLockedValue { value -> CheckedContinuation<Void, Never>? in
            value.count += 1
            guard value.count >= value.target, let waiter = value.waiter else { return nil }
            value.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    var count: Int { state.withLockedValue { $0.count } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { value -> Bool in
                if value.count >= value.target { return true }
                value.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// A window of `size` requests in flight: `acquire` waits while the window is full.
final class Window: Sendable {
    private let state: NIOLockedValueBox<(available: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(size: Int) { state = NIOLockedValueBox((size, [])) }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLockedValue { value -> Bool in
                if value.available > 0 {
                    value.available -= 1
                    return true
                }
                value.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let waiter = state.withLockedValue { value -> CheckedContinuation<Void, Never>? in
            if value.waiters.isEmpty {
                value.available += 1
                return nil
            }
            return value.waiters.removeFirst()
        }
        waiter?.resume()
    }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    return logger
}

@_silgen_name("malloc_trim")
private func mallocTrim(_ pad: Int) -> Int32

/// CPU seconds (user + system) of this process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Resident memory of this process in bytes (from /proc/self/statm), after returning free heap
/// pages to the system so that memory freed by earlier scenarios does not hide new allocations.
func residentBytes() -> Int {
    _ = mallocTrim(0)
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)
    return sorted[max(0, index)]
}

/// A server mesh with one client, `client`, and that client's mesh, connected.
struct MeshPair {
    let server: Mesh
    let client: Mesh
    private let tasks: [Task<Void, Never>]

    static func start(
        options: MeshConfiguration = MeshConfiguration(),
        extraClients: Int = 0,
        serverHandler: @escaping MessageHandler,
        clientHandler: @escaping MessageHandler = { _, _ in }
    ) async throws -> MeshPair {
        var serverConfig = try ServiceConfiguration(name: "server", url: "http://127.0.0.1:1", ip: "127.0.0.1", port: 0)
        let anywhere = try IPAllowance(parsing: "127.0.0.1")
        for n in 0..<extraClients { try serverConfig.addClient("other\(n)", allowing: anywhere) }
        var invitation = try serverConfig.addClient("client", allowing: anywhere)
        let server = Mesh(configuration: serverConfig, options: options, logger: quietLogger())
        server.onMessage(serverHandler)
        var tasks: [Task<Void, Never>] = [Task { _ = try? await server.run() }]
        let port = try await server.listeningPort()
        invitation.url = "ws://127.0.0.1:\(port)/"
        var clientConfig = try ServiceConfiguration(name: "client", port: 0)
        try clientConfig.addServer(invitation)
        let client = Mesh(configuration: clientConfig, options: options, logger: quietLogger())
        client.onMessage(clientHandler)
        let connected = Latch()
        connected.reset(target: 1)
        tasks.append(Task { [stream = client.events] in for await event in stream { if case .peerConnected = event { connected.increment() } } })
        tasks.append(Task { _ = try? await client.run() })
        await connected.wait()
        return MeshPair(server: server, client: client, tasks: tasks)
    }

    func stop() async {
        client.shutdown()
        server.shutdown()
        for task in tasks { await task.value }
    }
}
