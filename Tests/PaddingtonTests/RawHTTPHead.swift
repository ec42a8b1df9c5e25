/// The head of an HTTP/1.1 message parsed from raw bytes: the start line and the header fields, with
/// the values stripped of surrounding whitespace, as HTTP does.
struct RawHTTPHead {
    static let terminator = Array("\r\n\r\n".utf8)

    /// `HTTP/1.1 101 Switching Protocols`, or a request line.
    let startLine: String
    let headers: [(name: String, value: String)]
    /// The bytes the head took, terminator included.
    let count: Int

    /// The head at the start of `bytes`, or nil when it is not complete yet.
    static func parse(_ bytes: ArraySlice<UInt8>) -> RawHTTPHead? {
        guard let end = bytes.firstRange(of: terminator) else { return nil }
        let lines = String(decoding: bytes[bytes.startIndex..<end.lowerBound], as: UTF8.self)
            .split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            return (String(line[..<colon]), value)
        }
        return RawHTTPHead(startLine: lines.first ?? "", headers: headers, count: end.upperBound - bytes.startIndex)
    }

    /// The status code of a response (0 when the start line is not a status line).
    var status: Int {
        let parts = startLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return 0 }
        return Int(parts[1]) ?? 0
    }

    /// The values of every field named `name` (case-insensitive), in order.
    func values(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
