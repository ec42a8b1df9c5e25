import ArgumentParser

/// A length of time on the command line: `90s`, `30m`, `24h`, `7d`, or plain seconds.
struct DurationArgument: ExpressibleByArgument, Sendable, Equatable {
    /// Whole seconds.
    var seconds: Int

    init(seconds: Int) {
        self.seconds = seconds
    }

    init?(argument: String) {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var text = Substring(argument)
        var unit = 1
        if let last = text.last, let factor = units[last] {
            unit = factor
            text = text.dropLast()
        }
        // At most ten years, so that nothing overflows.
        guard !text.isEmpty, text.count <= 9, text.allSatisfy(\.isASCII), let value = Int(text), value >= 0,
            value * unit <= 3650 * 86_400
        else { return nil }
        seconds = value * unit
    }

    var duration: Duration { .seconds(seconds) }

    /// `24h`, `90m`, `45s`.
    var description: String {
        if seconds > 0, seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds > 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    var defaultValueDescription: String { description }
}
