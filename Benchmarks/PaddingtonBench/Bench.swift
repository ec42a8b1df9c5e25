// paddington-bench: every figure next to a baseline measured in the same run.
//
//   swift run -c release paddington-bench [SCENARIO...] [--quick] [--json]
//
// Scenarios: envelope, components, v2crypto, oneway, echo, large, latency, handshakes, reconnect, peers.
// Without a scenario it runs all but `components` and `v2crypto`. --quick uses tiny counts (for tests).
import Foundation
import Paddington
import PaddingtonCrypto

@main
struct Bench {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Hidden child modes for the peers scenario.
        if arguments.first == "mesh-peers-child", arguments.count == 2 {
            try await meshPeersChild(specPath: arguments[1])
            return
        }
        if arguments.first == "plain-peers-child", arguments.count == 3, let port = Int(arguments[1]), let count = Int(arguments[2]) {
            try await plainPeersChild(port: port, count: count)
            return
        }
        let settings = Settings(quick: arguments.contains("--quick"))
        let json = arguments.contains("--json")
        let all = ["envelope", "oneway", "echo", "large", "latency", "handshakes", "reconnect", "peers"]
        var selected = arguments.filter { !$0.hasPrefix("--") }
        if selected.isEmpty { selected = all }
        if let unknown = selected.first(where: { !(all + ["components", "v2crypto"]).contains($0) }) {
            print("unknown scenario '\(unknown)'; scenarios: \((all + ["components", "v2crypto"]).joined(separator: ", "))")
            exit(2)
        }
        let started = ContinuousClock.now
        var figures: [Figure] = []
        for scenario in selected {
            switch scenario {
            case "envelope": runEnvelope(quick: settings.quick, json: json)
            case "components": runComponents(quick: settings.quick)
            case "v2crypto": try runProtocolTwoCrypto(quick: settings.quick, json: json)
            default:
                let produced = try await run(scenario, settings: settings)
                figures += produced
                if !json { printTable(produced) }
            }
        }
        if json {
            print(jsonReport(figures))
        } else {
            print("\nall scenarios took \(fixed(seconds(ContinuousClock.now - started), 1)) s")
        }
    }

    static func run(_ scenario: String, settings: Settings) async throws -> [Figure] {
        let reps = settings.repetitions
        switch scenario {
        case "oneway":
            let count = settings.count(100_000, quick: 500)
            var mesh: [(rate: Double, cpu: Double)] = []
            var plain: [(rate: Double, cpu: Double)] = []
            for _ in 0..<reps {
                plain.append(try await plainOneWay(payload: smallPayload, count: count))
                mesh.append(try await meshOneWay(payload: smallPayload, count: count))
            }
            let rate = median(mesh.map(\.rate)), base = median(plain.map(\.rate))
            return [
                Figure(scenario: "100 B one-way, \(count) msgs", metric: "messages/s", unit: "msg/s", value: rate, baseline: base,
                       goal: "≥ 60% of plain", met: rate >= 0.6 * base),
                Figure(scenario: "100 B one-way, \(count) msgs", metric: "CPU per message (both ends)", unit: "µs",
                       value: median(mesh.map(\.cpu)), baseline: median(plain.map(\.cpu))),
            ]
        case "echo":
            let count = settings.count(50_000, quick: 500)
            var mesh: [(rate: Double, cpu: Double)] = []
            var plain: [(rate: Double, cpu: Double)] = []
            for _ in 0..<reps {
                plain.append(try await plainEcho(count: count, window: 64))
                mesh.append(try await meshEcho(count: count, window: 64))
            }
            return [
                Figure(scenario: "100 B echo, window 64, \(count) rts", metric: "round trips/s", unit: "rt/s",
                       value: median(mesh.map(\.rate)), baseline: median(plain.map(\.rate))),
                Figure(scenario: "100 B echo, window 64, \(count) rts", metric: "CPU per round trip", unit: "µs",
                       value: median(mesh.map(\.cpu)), baseline: median(plain.map(\.cpu))),
            ]
        case "large":
            var figures: [Figure] = []
            for (size, count) in [(64 * 1024, settings.count(2000, quick: 20)), (1 << 20, settings.count(100, quick: 4))] {
                let payload = String(repeating: "x", count: size)
                var mesh: [Double] = []
                var plain: [Double] = []
                for _ in 0..<reps {
                    plain.append(try await plainOneWay(payload: payload, count: count).rate * Double(size) / 1e6)
                    mesh.append(try await meshOneWay(payload: payload, count: count).rate * Double(size) / 1e6)
                }
                let value = median(mesh), base = median(plain)
                figures.append(Figure(scenario: "\(sizeText(size)) one-way, \(count) msgs", metric: "payload MB/s", unit: "MB/s",
                                      value: value, baseline: base, goal: "≥ 20% of plain", met: value >= 0.2 * base))
            }
            return figures
        case "latency":
            let count = settings.count(10_000, quick: 200)
            let mesh = try await meshLatency(count: count)
            let plain = try await plainLatency(count: count)
            let p50 = percentile(mesh, 0.5), base50 = percentile(plain, 0.5)
            return [
                Figure(scenario: "request/reply, \(count) sequential", metric: "p50", unit: "µs", value: p50, baseline: base50,
                       goal: "≤ 1.5× plain", met: p50 <= 1.5 * base50),
                Figure(scenario: "request/reply, \(count) sequential", metric: "p99", unit: "µs",
                       value: percentile(mesh, 0.99), baseline: percentile(plain, 0.99)),
                Figure(scenario: "request/reply, \(count) sequential", metric: "p99.9", unit: "µs",
                       value: percentile(mesh, 0.999), baseline: percentile(plain, 0.999)),
            ]
        case "handshakes":
            let count = settings.count(1000, quick: 32)
            let sequential = try await meshHandshakes(count: count, parallel: 1)
            let plainSequential = try await plainHandshakes(count: count, parallel: 1)
            let parallel = try await meshHandshakes(count: count, parallel: 16)
            let plainParallel = try await plainHandshakes(count: count, parallel: 16)
            let crowded = try await meshHandshakes(count: settings.count(200, quick: 16), parallel: 1, extraClients: 1000)
            // First contact from an address: every handshake from a new client name, so no remembered
            // client helps; trial decryption runs over all 1,000 entries before the right one.
            let cold = try await meshHandshakes(count: settings.count(64, quick: 16), parallel: 16, extraClients: 1000)
            let p50 = percentile(sequential.times, 0.5)
            let crowded50 = percentile(crowded.times, 0.5)
            return [
                Figure(scenario: "handshake cycle, \(count) sequential", metric: "cycles/s", unit: "/s",
                       value: sequential.rate, baseline: plainSequential.rate),
                Figure(scenario: "handshake cycle, \(count) sequential", metric: "p50", unit: "ms", value: p50,
                       baseline: percentile(plainSequential.times, 0.5), goal: "≤ 3 ms", met: p50 <= 3),
                Figure(scenario: "handshake cycle, \(count) sequential", metric: "p99", unit: "ms",
                       value: percentile(sequential.times, 0.99), baseline: percentile(plainSequential.times, 0.99)),
                Figure(scenario: "handshake cycle, \(count), 16 in parallel", metric: "cycles/s", unit: "/s",
                       value: parallel.rate, baseline: plainParallel.rate),
                Figure(scenario: "handshake cycle, \(count), 16 in parallel", metric: "p50", unit: "ms",
                       value: percentile(parallel.times, 0.5), baseline: percentile(plainParallel.times, 0.5)),
                Figure(scenario: "handshake cycle, \(count), 16 in parallel", metric: "p99", unit: "ms",
                       value: percentile(parallel.times, 0.99), baseline: percentile(plainParallel.times, 0.99)),
                Figure(scenario: "handshake, 1,000 configured clients (last)", metric: "p50 (baseline: 1 client)", unit: "ms",
                       value: crowded50, baseline: p50, goal: "≤ 2× one client", met: crowded50 <= 2 * p50),
                Figure(scenario: "handshake, 1,000 configured clients, 16 alternating", metric: "p50 (baseline: 16 parallel, 1 client each)", unit: "ms",
                       value: percentile(cold.times, 0.5), baseline: percentile(parallel.times, 0.5)),
            ]
        case "reconnect":
            let count = settings.count(5, quick: 2)
            let defaults = try await meshReconnect(count: count, policy: ReconnectPolicy())
            let fast = try await meshReconnect(count: count, policy: ReconnectPolicy(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50)))
            return [
                Figure(scenario: "server restart to first message", metric: "default backoff (1 s, jittered)", unit: "ms", value: defaults),
                Figure(scenario: "server restart to first message", metric: "10 ms backoff", unit: "ms", value: fast),
            ]
        case "peers":
            let count = settings.count(1000, quick: 20)
            // The baseline first, so that its figure is not hidden by heap the mesh scenario freed.
            let plain = try await plainPeers(count: count)
            let mesh = try await meshPeers(count: count)
            let kib = mesh.bytesPerPeer / 1024
            return [
                Figure(scenario: "\(count) idle peers, one server", metric: "resident memory per peer", unit: "KiB", value: kib,
                       baseline: plain.bytesPerPeer / 1024, goal: "≤ 64 KiB", met: kib <= 64),
                Figure(scenario: "\(count) idle peers, one server", metric: "one message to each", unit: "ms",
                       value: mesh.fanOutMs, baseline: plain.fanOutMs),
                Figure(scenario: "\(count) idle peers, one server", metric: "all connected (dials at once)", unit: "s",
                       value: mesh.connectSeconds),
            ]
        default:
            return []
        }
    }

    static func printTable(_ figures: [Figure]) {
        for figure in figures {
            let ratio = figure.baseline.map { $0 > 0 ? fixed(figure.value / $0, 2) + "×" : "-" } ?? "-"
            let base = figure.baseline.map { format($0) } ?? "-"
            let goal = figure.goal.map { "\($0): \(figure.met == true ? "met" : "MISSED")" } ?? ""
            print("\(figure.scenario) | \(figure.metric) | \(format(figure.value)) \(figure.unit) | plain \(base) | \(ratio) | \(goal)")
        }
    }

    static func format(_ value: Double) -> String {
        value >= 1000 ? fixed(value, 0) : value >= 10 ? fixed(value, 1) : fixed(value, 2)
    }

    static func jsonReport(_ figures: [Figure]) -> String {
        let items = figures.map { figure -> String in
            var fields = [
                "\"scenario\":\(quoted(figure.scenario))", "\"metric\":\(quoted(figure.metric))", "\"unit\":\(quoted(figure.unit))",
                "\"value\":\(fixed(figure.value, 3))",
            ]
            if let baseline = figure.baseline { fields.append("\"baseline\":\(fixed(baseline, 3))") }
            if let goal = figure.goal { fields.append("\"goal\":\(quoted(goal))") }
            if let met = figure.met { fields.append("\"met\":\(met)") }
            return "{" + fields.joined(separator: ",") + "}"
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    static func quoted(_ text: String) -> String { String(decoding: JSONString.encode(text), as: UTF8.self) }
}
