import Foundation
import PaddingtonTestSupport
import Testing

/// The benchmark binary with tiny counts, so that it keeps working. No figure is checked here:
/// speed is measured by running the benchmark, not by tests.
@Suite("Benchmark smoke")
struct BenchmarkSmokeTests {
    @Test("every scenario runs on both protocols and reports JSON")
    func smoke() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let child = try ChildProcess("paddington-bench", [
            "oneway", "echo", "large", "latency", "metrics", "handshakes", "reconnect", "peers", "--quick", "--json",
        ], in: folder)
        let status = await child.waitForExit(timeout: .seconds(240))
        #expect(status == 0, "\(child.stderr.suffix(2000))")
        let data = Data(child.stdout.utf8)
        let figures = try JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        let scenarios = Set((figures ?? []).compactMap { $0["scenario"] as? String })
        #expect(scenarios.count >= 8, "\(child.stdout.suffix(1000))")
        #expect((figures ?? []).allSatisfy { ($0["value"] as? Double).map { $0.isFinite } ?? false })
        // Every mesh scenario ran on both wire protocols (the binary fails when a link negotiated
        // another protocol than the one asked for).
        for scenario in scenarios {
            let protocols = Set((figures ?? []).filter { $0["scenario"] as? String == scenario }.compactMap { $0["protocol"] as? Int })
            #expect(protocols == [1, 2], "\(scenario): protocols \(protocols)")
        }
        // Each protocol's figures carry the goals its issue set (issue 9: protocol 1, issue 10:
        // protocol 2), and a goal always comes with its verdict.
        for wire in [1, 2] {
            let goals = (figures ?? []).filter { $0["protocol"] as? Int == wire && $0["goal"] != nil }
            #expect(goals.count >= 6, "protocol \(wire): \(goals.count) figures with a goal")
            #expect(goals.allSatisfy { $0["met"] is Bool })
        }
    }
}
