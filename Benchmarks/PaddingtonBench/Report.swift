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
    /// A goal from the issues, judged on protocol 1 only (the issues set none for protocol 2).
    var goal: Goal? = nil

    func ratio(_ wire: WireProtocol) -> Double? {
        guard let value = values[wire], let reference = reference.value(for: wire), reference > 0 else { return nil }
        return value / reference
    }

    /// Whether protocol 1 meets the goal; nil without a goal or without a protocol 1 figure.
    var met: Bool? {
        guard let goal, let value = values[.one] else { return nil }
        return goal.isMet(value: value, ratio: ratio(.one))
    }
}

/// A bound on a figure's value or on its ratio to its reference.
struct Goal {
    enum Bound {
        case ratioAtLeast(Double)
        case ratioAtMost(Double)
        case valueAtMost(Double)
    }

    var text: String
    var bound: Bound

    func isMet(value: Double, ratio: Double?) -> Bool {
        switch bound {
        case .ratioAtLeast(let limit): ratio.map { $0 >= limit } ?? false
        case .ratioAtMost(let limit): ratio.map { $0 <= limit } ?? false
        case .valueAtMost(let limit): value <= limit
        }
    }
}

/// The report of the end-to-end scenarios: a Markdown table with, per figure, plain WebSocket and then
/// each protocol's value and ratio (protocol 1's goal beside it), or JSON with one object per figure
/// and protocol.
struct Report {
    var protocols: [WireProtocol]

    var header: String {
        var columns = ["scenario", "metric", "plain WebSocket"]
        for wire in protocols {
            columns += [wire.label, "ratio"]
            if wire == .one { columns.append("goal (\(wire.label))") }
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
                if wire == .one {
                    columns.append(figure.goal.map { "\($0.text): \(figure.met == true ? "met" : "MISSED")" } ?? "")
                }
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
                if wire == .one, let goal = figure.goal, let met = figure.met {
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
