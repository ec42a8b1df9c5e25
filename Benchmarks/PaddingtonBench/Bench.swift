// paddington-bench: every figure next to a baseline measured in the same run.
//
//   swift run -c release paddington-bench [SCENARIO...] [--protocol 1|2] [--quick] [--json]
//
// Scenarios: envelope, components, v2crypto, oneway, echo, large, latency, requests, handshakes,
// reconnect, peers.
// Every mesh scenario runs once per wire protocol, in the same run as its plain WebSocket baseline:
// protocol 1 (both sides' protocolPolicy .off: the Rust format) and protocol 2 (.auto, checked to have
// negotiated 2). --protocol restricts a run to one of them. Without a scenario it runs all but
// `components`, with `envelope` for protocol 1 and `v2crypto` for protocol 2. --quick uses tiny counts
// (for tests).
import Foundation
import Paddington
import PaddingtonCrypto
import Prometheus

@main
struct Bench {
    static let meshScenarios = ["oneway", "echo", "large", "latency", "requests", "metrics", "handshakes", "reconnect", "peers"]
    static let scenarios = ["envelope", "components", "v2crypto"] + meshScenarios
    static let usage = "usage: paddington-bench [SCENARIO...] [--protocol 1|2] [--quick] [--json]\n"
        + "scenarios: \(scenarios.joined(separator: ", "))"

    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        // Hidden child modes for the peers scenario.
        if arguments.first == "mesh-peers-child", arguments.count == 3, let policy = ProtocolPolicy(arguments[2]) {
            try await meshPeersChild(specPath: arguments[1], policy: policy)
            return
        }
        if arguments.first == "plain-peers-child", arguments.count == 3, let port = Int(arguments[1]), let count = Int(arguments[2]) {
            try await plainPeersChild(port: port, count: count)
            return
        }
        if arguments.first == "peers-server", arguments.count == 3, let count = Int(arguments[2]) {
            try await peersServer(variant: arguments[1], count: count)
            return
        }
        guard let (settings, json, selected) = parse(arguments) else {
            print(usage)
            exit(2)
        }
        let report = Report(protocols: settings.protocols)
        let started = ContinuousClock.now
        var figures: [Figure] = []
        var failed: [String] = []
        var headerPrinted = false
        for scenario in selected {
            do {
                switch scenario {
                case "envelope": runEnvelope(quick: settings.quick, json: json)
                case "components": runComponents(quick: settings.quick)
                case "v2crypto": try runProtocolTwoCrypto(quick: settings.quick, json: json)
                default:
                    let produced = try await run(scenario, settings: settings)
                    figures += produced
                    if !json {
                        if !headerPrinted {
                            print("\nmesh scenarios on \(settings.protocols.map(\.label).joined(separator: " and ")), against plain WebSocket in the same run\n")
                            print(report.header)
                            headerPrinted = true
                        }
                        report.lines(produced).forEach { print($0) }
                    }
                }
            } catch {
                failed.append(scenario)
                FileHandle.standardError.write(Data("paddington-bench: scenario \(scenario) FAILED: \(error)\n".utf8))
            }
        }
        if json {
            print(report.json(figures))
        } else {
            print("\nall scenarios took \(fixed(seconds(ContinuousClock.now - started), 1)) s")
        }
        if !failed.isEmpty {
            FileHandle.standardError.write(Data("paddington-bench: FAILED: \(failed.joined(separator: ", "))\n".utf8))
            exit(1)
        }
    }

    /// Settings, whether to print JSON, and the scenarios to run; nil for a bad command line.
    static func parse(_ arguments: [String]) -> (Settings, json: Bool, scenarios: [String])? {
        var settings = Settings(quick: false, protocols: WireProtocol.allCases)
        var json = false
        var selected: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": settings.quick = true
            case "--json": json = true
            case "--protocol":
                guard let value = rest.popFirst(), let number = Int(value), let wire = WireProtocol(rawValue: number) else { return nil }
                settings.protocols = [wire]
            default:
                guard scenarios.contains(argument) else { return nil }
                selected.append(argument)
            }
        }
        if selected.isEmpty {
            selected = settings.protocols.contains(.one) ? ["envelope"] : []
            if settings.protocols.contains(.two) { selected.append("v2crypto") }
            selected += meshScenarios
        }
        return (settings, json, selected)
    }

    /// Runs `plain` and then `mesh` once for each protocol, `repetitions` times in turn, so that drift
    /// on the machine reaches every variant alike. Returns every result.
    static func interleave<T>(
        _ repetitions: Int, _ protocols: [WireProtocol], plain: () async throws -> T, mesh: (WireProtocol) async throws -> T
    ) async throws -> (plain: [T], mesh: [WireProtocol: [T]]) {
        var plainResults: [T] = []
        var meshResults: [WireProtocol: [T]] = [:]
        for _ in 0..<repetitions {
            plainResults.append(try await plain())
            for wire in protocols { meshResults[wire, default: []].append(try await mesh(wire)) }
        }
        return (plainResults, meshResults)
    }

    static func run(_ scenario: String, settings: Settings) async throws -> [Figure] {
        let reps = settings.repetitions
        let protocols = settings.protocols
        switch scenario {
        case "oneway":
            let count = settings.count(100_000, quick: 500)
            let runs = try await interleave(reps, protocols) {
                try await plainOneWay(payload: smallPayload, count: count)
            } mesh: { wire in
                try await meshOneWay(payload: smallPayload, count: count, wire: wire)
            }
            let name = "100 B one-way, \(count) msgs"
            return [
                Figure(scenario: name, metric: "messages/s", unit: "msg/s", values: runs.mesh.mapValues { median($0.map(\.rate)) },
                       reference: .plain(median(runs.plain.map(\.rate))), goals: [.one: .ratioAtLeast(0.5), .two: .ratioAtLeast(0.85)]),
                Figure(scenario: name, metric: "CPU per message (both ends)", unit: "µs", values: runs.mesh.mapValues { median($0.map(\.cpu)) },
                       reference: .plain(median(runs.plain.map(\.cpu)))),
            ]
        case "echo":
            let count = settings.count(50_000, quick: 500)
            let runs = try await interleave(reps, protocols) {
                try await plainEcho(count: count, window: 64)
            } mesh: { wire in
                try await meshEcho(count: count, window: 64, wire: wire)
            }
            let name = "100 B echo, window 64, \(count) rts"
            return [
                Figure(scenario: name, metric: "round trips/s", unit: "rt/s", values: runs.mesh.mapValues { median($0.map(\.rate)) },
                       reference: .plain(median(runs.plain.map(\.rate))), goals: [.two: .ratioAtLeast(0.8)]),
                Figure(scenario: name, metric: "CPU per round trip", unit: "µs", values: runs.mesh.mapValues { median($0.map(\.cpu)) },
                       reference: .plain(median(runs.plain.map(\.cpu)))),
            ]
        case "large":
            var figures: [Figure] = []
            for (size, count) in [(64 * 1024, settings.count(2000, quick: 20)), (1 << 20, settings.count(100, quick: 4))] {
                let payload = String(repeating: "x", count: size)
                let megabytes = { (rate: Double) in rate * Double(size) / 1e6 }
                let runs = try await interleave(reps, protocols) {
                    megabytes(try await plainOneWay(payload: payload, count: count).rate)
                } mesh: { wire in
                    megabytes(try await meshOneWay(payload: payload, count: count, wire: wire).rate)
                }
                figures.append(Figure(scenario: "\(sizeText(size)) one-way, \(count) msgs", metric: "payload MB/s", unit: "MB/s",
                                      values: runs.mesh.mapValues(median), reference: .plain(median(runs.plain)),
                                      goals: [.one: Goal(text: "≥ 20% of plain", bound: .ratioAtLeast(0.2)), .two: .ratioAtLeast(0.6)]))
            }
            return figures
        case "latency":
            let count = settings.count(10_000, quick: 200)
            // In rounds, plain and each protocol in turn, and the samples pooled: a latency figure moves
            // with the machine's load from second to second, and a drift should reach every variant.
            let rounds = settings.quick ? 1 : 5
            let runs = try await interleave(rounds, protocols) {
                try await plainLatency(count: count / rounds)
            } mesh: { wire in
                try await meshLatency(count: count / rounds, wire: wire)
            }
            let mesh = runs.mesh.mapValues { $0.flatMap { $0 }.sorted() }, plain = runs.plain.flatMap { $0 }.sorted()
            let name = "request/reply, \(count) sequential"
            return [
                Figure(scenario: name, metric: "p50", unit: "µs", values: mesh.mapValues { percentile($0, 0.5) },
                       reference: .plain(percentile(plain, 0.5)), goals: [.one: .ratioAtMost(1.5), .two: .ratioAtMost(1.15)]),
                Figure(scenario: name, metric: "p99", unit: "µs", values: mesh.mapValues { percentile($0, 0.99) },
                       reference: .plain(percentile(plain, 0.99))),
                Figure(scenario: name, metric: "p99.9", unit: "µs", values: mesh.mapValues { percentile($0, 0.999) },
                       reference: .plain(percentile(plain, 0.999))),
            ]
        case "requests":
            return try await requestFigures(settings: settings)
        case "metrics":
            return try await metricsFigures(settings: settings)
        case "handshakes":
            return try await handshakeFigures(settings: settings)
        case "reconnect":
            let count = settings.count(5, quick: 2)
            var defaults: [WireProtocol: Double] = [:]
            var fast: [WireProtocol: Double] = [:]
            for wire in protocols {
                defaults[wire] = try await meshReconnect(count: count, policy: ReconnectPolicy(), wire: wire)
                fast[wire] = try await meshReconnect(
                    count: count, policy: ReconnectPolicy(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(50)), wire: wire)
            }
            return [
                Figure(scenario: "server restart to first message", metric: "default backoff (1 s, jittered)", unit: "ms", values: defaults),
                Figure(scenario: "server restart to first message", metric: "10 ms backoff", unit: "ms", values: fast),
            ]
        case "peers":
            let count = settings.count(1000, quick: 20)
            // Each variant's server runs in a fresh process: in one that ran other scenarios, connections
            // reuse memory those freed and look cheaper than they are (a plain server measured 2.5 KiB
            // per peer there, 10 KiB fresh).
            let plain = try await peersInFreshProcess("plain", count: count)
            var mesh: [WireProtocol: (bytesPerPeer: Double, fanOutMs: Double, connectSeconds: Double)] = [:]
            for wire in protocols { mesh[wire] = try await peersInFreshProcess("\(wire.rawValue)", count: count) }
            let name = "\(count) idle peers, one server"
            return [
                Figure(scenario: name, metric: "resident memory per peer", unit: "KiB", values: mesh.mapValues { $0.bytesPerPeer / 1024 },
                       reference: .plain(plain.bytesPerPeer / 1024),
                       goals: [.one: Goal(text: "≤ 24 KiB", bound: .valueAtMost(24)),
                               .two: Goal(text: "≤ protocol 1", bound: .atMostProtocolOne)]),
                Figure(scenario: name, metric: "one message to each", unit: "ms", values: mesh.mapValues(\.fanOutMs),
                       reference: .plain(plain.fanOutMs)),
                Figure(scenario: name, metric: "all connected (dials at once)", unit: "s", values: mesh.mapValues(\.connectSeconds)),
            ]
        default:
            return []
        }
    }

    /// The agent layer against the raw mesh on the same protocol, interleaved in rounds.
    static func requestFigures(settings: Settings) async throws -> [Figure] {
        let count = settings.count(10_000, quick: 200), rateCount = settings.count(50_000, quick: 500)
        let rounds = settings.quick ? 1 : 5
        var raw: [WireProtocol: [Double]] = [:], requests = raw, actors = raw
        var echo: [WireProtocol: [Double]] = [:], rate = echo
        for _ in 0..<rounds {
            for wire in settings.protocols {
                raw[wire, default: []] += try await meshLatency(count: count / rounds, wire: wire)
                requests[wire, default: []] += try await meshRequestLatency(count: count / rounds, wire: wire)
                actors[wire, default: []] += try await meshActorLatency(count: count / rounds, wire: wire)
                echo[wire, default: []].append(try await meshEcho(count: rateCount / rounds, window: 64, wire: wire).rate)
                rate[wire, default: []].append(try await meshRequestRate(count: rateCount / rounds, window: 64, wire: wire).rate)
            }
        }
        let p50 = { (samples: [WireProtocol: [Double]]) in samples.mapValues { percentile($0.sorted(), 0.5) } }
        let p99 = { (samples: [WireProtocol: [Double]]) in samples.mapValues { percentile($0.sorted(), 0.99) } }
        let sequential = "request/reply (agent frames), \(count) sequential"
        let windowed = "request/reply (agent frames), \(rateCount), 64 in flight"
        return [
            Figure(scenario: sequential, metric: "p50 (ratio: against a raw message round trip, same protocol)", unit: "µs",
                   values: p50(requests), reference: .sameProtocol(p50(raw)),
                   goals: [.one: Goal(text: "≤ 1.2× raw", bound: .ratioAtMost(1.2)), .two: Goal(text: "≤ 1.2× raw", bound: .ratioAtMost(1.2))]),
            Figure(scenario: sequential, metric: "p99 (ratio: against a raw message round trip, same protocol)", unit: "µs",
                   values: p99(requests), reference: .sameProtocol(p99(raw))),
            Figure(scenario: "distributed actor call, \(count) sequential", metric: "p50 (ratio: against a raw message round trip, same protocol)",
                   unit: "µs", values: p50(actors), reference: .sameProtocol(p50(raw)),
                   goals: [.one: Goal(text: "≤ 1.3× raw", bound: .ratioAtMost(1.3)), .two: Goal(text: "≤ 1.3× raw", bound: .ratioAtMost(1.3))]),
            Figure(scenario: windowed, metric: "round trips/s (ratio: against raw echo, window 64, same protocol)", unit: "/s",
                   values: rate.mapValues(median), reference: .sameProtocol(echo.mapValues(median)),
                   goals: [.one: Goal(text: "≥ 0.8× raw", bound: .ratioAtLeast(0.8)), .two: Goal(text: "≥ 0.8× raw", bound: .ratioAtLeast(0.8))]),
        ]
    }

    /// The cost of metrics: one-way messages with a Prometheus registry per run (every link counter,
    /// gauge and handshake counter live) against the same with no backend (swift-metrics' no-op, the
    /// default when nothing is bootstrapped), interleaved in rounds.
    static func metricsFigures(settings: Settings) async throws -> [Figure] {
        let count = settings.count(100_000, quick: 500)
        var off: [WireProtocol: [Double]] = [:], on = off
        for _ in 0..<settings.repetitions {
            for wire in settings.protocols {
                off[wire, default: []].append(try await meshOneWay(payload: smallPayload, count: count, wire: wire).rate)
                var options = MeshConfiguration()
                options.metricsFactory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
                on[wire, default: []].append(try await meshOneWay(payload: smallPayload, count: count, wire: wire, options: options).rate)
            }
        }
        return [
            Figure(scenario: "100 B one-way, \(count) msgs, Prometheus metrics", metric: "messages/s (ratio: against metrics off, same protocol)",
                   unit: "msg/s", values: on.mapValues(median), reference: .sameProtocol(off.mapValues(median))),
        ]
    }

    static func handshakeFigures(settings: Settings) async throws -> [Figure] {
        let count = settings.count(1000, quick: 32)
        let plainSequential = try await plainHandshakes(count: count, parallel: 1)
        let plainParallel = try await plainHandshakes(count: count, parallel: 16)
        var sequential: [WireProtocol: (rate: Double, times: [Double])] = [:]
        var parallel = sequential, crowded = sequential, cold = sequential
        for wire in settings.protocols {
            sequential[wire] = try await meshHandshakes(count: count, parallel: 1, wire: wire)
            parallel[wire] = try await meshHandshakes(count: count, parallel: 16, wire: wire)
            crowded[wire] = try await meshHandshakes(count: settings.count(200, quick: 16), parallel: 1, extraClients: 1000, wire: wire)
            // First contact from an address: every handshake from a new client name, so no remembered
            // client helps; trial decryption runs over all 1,000 entries before the right one.
            cold[wire] = try await meshHandshakes(count: settings.count(64, quick: 16), parallel: 16, extraClients: 1000, wire: wire)
        }
        let p50 = { (runs: [WireProtocol: (rate: Double, times: [Double])]) in runs.mapValues { percentile($0.times, 0.5) } }
        let p99 = { (runs: [WireProtocol: (rate: Double, times: [Double])]) in runs.mapValues { percentile($0.times, 0.99) } }
        let one = "handshake cycle, \(count) sequential", sixteen = "handshake cycle, \(count), 16 in parallel"
        return [
            Figure(scenario: one, metric: "cycles/s", unit: "/s", values: sequential.mapValues(\.rate), reference: .plain(plainSequential.rate)),
            Figure(scenario: one, metric: "p50", unit: "ms", values: p50(sequential), reference: .plain(percentile(plainSequential.times, 0.5)),
                   goals: [.one: Goal(text: "≤ 3 ms", bound: .valueAtMost(3)), .two: Goal(text: "≤ 1.5 ms", bound: .valueAtMost(1.5))]),
            Figure(scenario: one, metric: "p99", unit: "ms", values: p99(sequential), reference: .plain(percentile(plainSequential.times, 0.99))),
            Figure(scenario: sixteen, metric: "cycles/s", unit: "/s", values: parallel.mapValues(\.rate), reference: .plain(plainParallel.rate)),
            Figure(scenario: sixteen, metric: "p50", unit: "ms", values: p50(parallel), reference: .plain(percentile(plainParallel.times, 0.5))),
            Figure(scenario: sixteen, metric: "p99", unit: "ms", values: p99(parallel), reference: .plain(percentile(plainParallel.times, 0.99))),
            Figure(scenario: "handshake, 1,000 configured clients (last)", metric: "p50 (ratio: against 1 client, sequential, same protocol)",
                   unit: "ms", values: p50(crowded), reference: .sameProtocol(p50(sequential)),
                   goals: [.one: Goal(text: "≤ 2× one client", bound: .ratioAtMost(2))]),
            Figure(scenario: "handshake, 1,000 configured clients, 16 alternating",
                   metric: "p50 (ratio: against 16 parallel, 1 client each, same protocol)", unit: "ms", values: p50(cold),
                   reference: .sameProtocol(p50(parallel))),
        ]
    }
}
