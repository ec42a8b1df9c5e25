import PaddingtonCrypto

/// One line of the report: a metric measured once per wire protocol, and what its ratio is taken against.
struct Figure {
    /// What a figure's ratio is taken against.
    enum Reference {
        /// Plain WebSocket, measured in the same run; the same for every protocol.
        case plain(Double)
        /// Another figure of the same protocol in the same run, which the metric names.
        case sameProtocol([WireProtocol: Double])
        /// Nothing to compare with.
        case none

        func value(for wire: WireProtocol) -> Double? {
            switch self {
            case .plain(let value): value
            case .sameProtocol(let values): values[wire]
            case .none: nil
            }
        }
    }

    var scenario: String
    var metric: String
    var unit: String
    var values: [WireProtocol: Double]
    var reference: Reference = .none
    /// The goals the issues set, per protocol (issue 9 for protocol 1, issue 10 for protocol 2).
    var goals: [WireProtocol: Goal] = [:]

    func ratio(_ wire: WireProtocol) -> Double? {
        guard let value = values[wire], let reference = reference.value(for: wire), reference > 0 else { return nil }
        return value / reference
    }

    /// Whether a protocol's figure meets its goal; nil without a goal, without the figure, or without
    /// what the goal compares it with (protocol 1's figure, in a run of protocol 2 alone).
    func met(_ wire: WireProtocol) -> Bool? {
        guard let goal = goals[wire], let value = values[wire] else { return nil }
        return goal.isMet(value: value, ratio: ratio(wire), protocolOne: values[.one])
    }
}

/// A bound on a figure's value or on its ratio to its reference.
struct Goal {
    enum Bound {
        case ratioAtLeast(Double)
        case ratioAtMost(Double)
        case valueAtMost(Double)
        /// At most protocol 1's figure for the same metric in the same run.
        case atMostProtocolOne
    }

    var text: String
    var bound: Bound

    /// Whether `value` meets the bound; nil when what it is judged against was not measured.
    func isMet(value: Double, ratio: Double?, protocolOne: Double?) -> Bool? {
        switch bound {
        case .ratioAtLeast(let limit): ratio.map { $0 >= limit }
        case .ratioAtMost(let limit): ratio.map { $0 <= limit }
        case .valueAtMost(let limit): value <= limit
        case .atMostProtocolOne: protocolOne.map { value <= $0 }
        }
    }

    static func ratioAtLeast(_ limit: Double) -> Goal { Goal(text: "≥ \(limit)× plain", bound: .ratioAtLeast(limit)) }
    static func ratioAtMost(_ limit: Double) -> Goal { Goal(text: "≤ \(limit)× plain", bound: .ratioAtMost(limit)) }
}

/// The report of the end-to-end scenarios: a Markdown table with, per figure, plain WebSocket and then
/// each protocol's value, ratio and goal, or JSON with one object per figure and protocol.
struct Report {
    var protocols: [WireProtocol]

    var header: String {
        var columns = ["scenario", "metric", "plain WebSocket"]
        for wire in protocols {
            columns += [wire.label, "ratio", "goal"]
        }
        return row(columns) + "\n" + row(columns.map { _ in "---" })
    }

    func lines(_ figures: [Figure]) -> [String] {
        figures.map { figure in
            var columns = [figure.scenario, figure.metric]
            if case .plain(let plain) = figure.reference {
                columns.append("\(Self.format(plain)) \(figure.unit)")
            } else {
                columns.append("-")
            }
            for wire in protocols {
                columns.append(figure.values[wire].map { "\(Self.format($0)) \(figure.unit)" } ?? "-")
                columns.append(figure.ratio(wire).map { fixed($0, 2) + "×" } ?? "-")
                columns.append(figure.goals[wire].map { goal in
                    "\(goal.text): " + (figure.met(wire).map { $0 ? "met" : "MISSED" } ?? "not judged (run both protocols)")
                } ?? "")
            }
            return row(columns)
        }
    }

    func json(_ figures: [Figure]) -> String {
        var items: [String] = []
        for figure in figures {
            for wire in protocols {
                guard let value = figure.values[wire] else { continue }
                var fields = [
                    "\"scenario\":\(Self.quoted(figure.scenario))", "\"metric\":\(Self.quoted(figure.metric))",
                    "\"unit\":\(Self.quoted(figure.unit))", "\"protocol\":\(wire.rawValue)", "\"value\":\(fixed(value, 3))",
                ]
                if let reference = figure.reference.value(for: wire) {
                    let kind = if case .plain = figure.reference { "plain" } else { "same protocol" }
                    fields.append("\"baseline\":\(fixed(reference, 3))")
                    fields.append("\"baseline_kind\":\(Self.quoted(kind))")
                }
                if let goal = figure.goals[wire], let met = figure.met(wire) {
                    fields.append("\"goal\":\(Self.quoted(goal.text))")
                    fields.append("\"met\":\(met)")
                }
                items.append("{" + fields.joined(separator: ",") + "}")
            }
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    private func row(_ columns: [String]) -> String { "| " + columns.joined(separator: " | ") + " |" }

    static func format(_ value: Double) -> String {
        value >= 1000 ? fixed(value, 0) : value >= 10 ? fixed(value, 1) : fixed(value, 2)
    }

    static func quoted(_ text: String) -> String { String(decoding: JSONString.encode(text), as: UTF8.self) }
}
