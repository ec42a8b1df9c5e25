import Foundation

/// The `Date` header's format (RFC 9110 IMF-fixdate), as hyper sends it.
enum HTTPDate {
    static func now() -> String {
        var time = time_t(Foundation.time(nil))
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
