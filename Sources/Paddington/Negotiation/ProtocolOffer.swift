/// The `openportal-protocol` header: the protocol numbers a client offers, or the one a server
/// selected (paddington-v2 §4).
///
/// A valid value is a comma-separated list of decimal numbers from 1 to 65535, highest first, with no
/// spaces, no leading zeros and no duplicates. The header's text is kept as received: it enters the
/// Noise prologue byte for byte.
package struct ProtocolOffer: Equatable, Sendable {
    /// The header's name.
    package static let headerName = "openportal-protocol"
    /// The longest value accepted, in bytes: room for forty protocol numbers. The spec sets no limit;
    /// this one keeps a hostile header from costing more than it should (docs/protocol.md).
    package static let maximumLength = 256
    /// The value this library offers and selects today.
    package static let protocolTwo = "2"

    /// The header value as received (after HTTP's whitespace stripping).
    package let text: String
    /// The numbers, in the order given (strictly descending).
    package let versions: [Int]

    /// A header value as HTTP defines it: without the optional whitespace (spaces and tabs) around it.
    /// NIO's parser removes the leading whitespace only; the value enters the prologue after this.
    package static func fieldValue(_ raw: String) -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = raw.firstIndex(where: { !isWhitespace($0) }), let last = raw.lastIndex(where: { !isWhitespace($0) }) else {
            return ""
        }
        return String(raw[first...last])
    }

    /// Parses a header value; nil when it is empty or malformed.
    package init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= Self.maximumLength else { return nil }
        var versions: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard (1...5).contains(part.utf8.count), part.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
                part.utf8.first != 0x30, let value = Int(part), (1...65535).contains(value)
            else { return nil }
            if let last = versions.last, value >= last { return nil }
            versions.append(value)
        }
        self.text = text
        self.versions = versions
    }

    /// Whether the list has protocol 2.
    package var offersProtocolTwo: Bool { versions.contains(2) }
}
