import Foundation

/// Points in time in configuration files: RFC 3339 in UTC, to the second (`2026-12-01T09:30:00Z`).
package enum Timestamp {
    private static func formatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        return formatter
    }

    /// `2026-12-01T09:30:00Z`.
    package static func format(_ date: Date) -> String {
        formatter().string(from: date)
    }

    /// The date, or nil when `text` is not an RFC 3339 date-time with a zone.
    package static func parse(_ text: String) -> Date? {
        guard text.utf8.count <= 64 else { return nil }
        return formatter().date(from: text)
    }
}
