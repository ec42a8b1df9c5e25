/// The outcome of one check of `paddington doctor`: one line of its output.
package struct DoctorCheck: Sendable, Equatable, Codable {
    /// How a check came out.
    package enum Status: String, Sendable, Equatable, Codable {
        /// Nothing to fix.
        case pass
        /// Works, but worth knowing (a link on protocol 1, a port held by something that may be the agent).
        case warning
        /// Broken or unsafe; the doctor exits non-zero.
        case fail
        /// Nothing was checked: a check that is not configured, or not applicable here.
        case info

        /// The mark that starts the line: `✔`, `!`, `✘` or `-`.
        package var symbol: String {
            switch self {
            case .pass: return "✔"
            case .warning: return "!"
            case .fail: return "✘"
            case .info: return "-"
            }
        }
    }

    /// Which check, e.g. `config.mode` or `server.handshake` (stable, for `--json` readers).
    package var check: String
    /// What it was about: a file path or a peer's `name@zone`, when there is one.
    package var subject: String?
    /// How it came out.
    package var status: Status
    /// What was found, one sentence.
    package var message: String
    /// What to do about it, when something is wrong.
    package var fix: String?

    /// A result from its parts.
    package init(_ check: String, _ status: Status, subject: String? = nil, _ message: String, fix: String? = nil) {
        self.check = check
        self.subject = subject
        self.status = status
        self.message = message
        self.fix = fix
    }

    /// The line the command prints: `✘ service.toml is readable by others (mode 0644): run chmod 600 service.toml`.
    package var line: String {
        "\(status.symbol) \(message)" + (fix.map { ": \($0)" } ?? "")
    }
}
