/// Validation of service names and zones, as the Rust crate defines them.
///
/// A character is "alphanumeric" in Rust's Unicode sense (`char::is_alphanumeric`: the Alphabetic
/// property or a numeric general category), so `é` and CJK characters are allowed.
package enum Names {
    /// The zone used when none is given.
    static let defaultZone = "default"

    static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || scalar.properties.numericType != nil
    }

    /// Nil when `name` is a valid service name, else why not.
    package static func problem(withName name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if let bad = name.unicodeScalars.first(where: { !(isAlphanumeric($0) || $0 == "_" || $0 == "-") }) {
            return "has the character \(describe(bad)); only letters, digits, '_' and '-' are allowed"
        }
        return nil
    }

    /// Nil when `zone` is a valid zone, else why not.
    package static func problem(withZone zone: String) -> String? {
        if zone.isEmpty { return "must not be empty" }
        if let bad = zone.unicodeScalars.first(where: {
            !(isAlphanumeric($0) || $0 == "_" || $0 == "-" || $0 == "<" || $0 == ">")
        }) {
            return "has the character \(describe(bad)); only letters, digits, '_', '-', '<' and '>' are allowed"
        }
        return nil
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar.properties.generalCategory == .control || scalar == " " {
            return "U+" + String(scalar.value, radix: 16, uppercase: true)
        }
        return "'\(scalar)'"
    }
}
