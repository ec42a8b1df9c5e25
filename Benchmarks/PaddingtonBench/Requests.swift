import Distributed
import Foundation
import Paddington
import PaddingtonActors
import PaddingtonTestSupport

// The agent layer's request/reply against the raw mesh on the same link: a plain message answered by a
// plain message (meshLatency, meshEcho).

/// Sequential `request` round trips in microseconds, sorted.
func meshRequestLatency(count: Int, wire: WireProtocol) async throws -> [Double] {
    let pair = try await startPair(wire, serverHandler: { _, _ in })
    pair.server.onRequest { request, _ in Reply(bytes: request.bytes) }
    var samples: [Double] = []
    samples.reserveCapacity(count)
    for _ in 0..<count {
        let start = ContinuousClock.now
        _ = try await pair.client.request(smallPayload, to: "server", timeout: .seconds(30))
        samples.append(seconds(ContinuousClock.now - start) * 1e6)
    }
    await pair.stop()
    return samples.sorted()
}

/// Request round trips with `window` in flight (that many tasks, each asking in turn); returns round
/// trips/s and CPU µs per round trip.
func meshRequestRate(count: Int, window: Int, wire: WireProtocol) async throws -> (rate: Double, cpu: Double) {
    let pair = try await startPair(wire, serverHandler: { _, _ in })
    pair.server.onRequest { request, _ in Reply(bytes: request.bytes) }
    let client = pair.client
    let cpu = cpuSeconds()
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for worker in 0..<window {
            let share = count / window + (worker < count % window ? 1 : 0)
            group.addTask {
                for _ in 0..<share { _ = try await client.request(smallPayload, to: "server", timeout: .seconds(30)) }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = seconds(ContinuousClock.now - start)
    let used = cpuSeconds() - cpu
    await pair.stop()
    return (Double(count) / elapsed, used / Double(count) * 1e6)
}

/// A distributed actor for the benchmark: echoes its argument.
distributed actor BenchEcho {
    typealias ActorSystem = MeshActorSystem
    distributed func echo(_ text: String) -> String { text }
}

/// Sequential distributed actor calls in microseconds, sorted.
func meshActorLatency(count: Int, wire: WireProtocol) async throws -> [Double] {
    let pair = try await startPair(wire, serverHandler: { _, _ in })
    let serverSystem = MeshActorSystem(mesh: pair.server), clientSystem = MeshActorSystem(mesh: pair.client)
    let local = serverSystem.makeWellKnown("echo") { BenchEcho(actorSystem: $0) }
    let remote = try BenchEcho.resolve(id: clientSystem.id(of: "echo", on: "server"), using: clientSystem)
    var samples: [Double] = []
    samples.reserveCapacity(count)
    for _ in 0..<count {
        let start = ContinuousClock.now
        _ = try await remote.echo(smallPayload)
        samples.append(seconds(ContinuousClock.now - start) * 1e6)
    }
    _ = local
    await pair.stop()
    return samples.sorted()
}
