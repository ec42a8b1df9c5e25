import Foundation
import TOMLKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading typed fields out of a parsed TOML document with errors that name the file and the field.
struct TOMLReader {
    /// Where the text came from, for messages ("invitations/x.toml", "<string>").
    let source: String
    /// `invalidInvitation` or `invalidConfiguration`.
    let code: PaddingtonError.Code

    func fail(_ field: String, _ what: String) -> PaddingtonError {
        PaddingtonError(code, "\(source): field '\(field)' \(what)")
    }

    func parse(_ text: String) throws -> TOMLTable {
        if let problem = TOMLGuard.firstProblem(in: text) {
            throw PaddingtonError(code, "\(source): not valid TOML: \(problem.what) at line \(problem.line), column \(problem.column)")
        }
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw PaddingtonError(
                code, "\(source): not valid TOML: \(error.description) at \(error.source.begin.debugDescription)",
                cause: error)
        } catch {
            throw PaddingtonError(code, "\(source): not valid TOML", cause: error)
        }
    }

    private func describe(_ type: TOMLType) -> String {
        switch type {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a float"
        case .bool: return "a boolean"
        default: return "a date or time"
        }
    }

    func value(_ table: TOMLTable, _ key: String, path: String) throws -> TOMLValue {
        guard let value = table[key]?.tomlValue else { throw fail(path, "is missing") }
        return value
    }

    func string(_ table: TOMLTable, _ key: String, path: String) throws -> String {
        let value = try value(table, key, path: path)
        guard let text = value.string else { throw fail(path, "must be a string, not \(describe(value.type))") }
        return text
    }

    func optionalString(_ table: TOMLTable, _ key: String, path: String) throws -> String? {
        guard table[key] != nil else { return nil }
        return try string(table, key, path: path)
    }

    func integer(_ table: TOMLTable, _ key: String, path: String, range: ClosedRange<Int>) throws -> Int {
        let value = try value(table, key, path: path)
        guard let number = value.int else { throw fail(path, "must be an integer, not \(describe(value.type))") }
        guard range.contains(number) else { throw fail(path, "is \(number), outside \(range.lowerBound)...\(range.upperBound)") }
        return number
    }

    func optionalInteger(_ table: TOMLTable, _ key: String, path: String, range: ClosedRange<Int>) throws -> Int? {
        guard table[key] != nil else { return nil }
        return try integer(table, key, path: path, range: range)
    }

    func table(_ table: TOMLTable, _ key: String, path: String) throws -> TOMLTable {
        let value = try value(table, key, path: path)
        guard let inner = value.table else { throw fail(path, "must be a table, not \(describe(value.type))") }
        return inner
    }

    func tables(_ table: TOMLTable, _ key: String, path: String) throws -> [TOMLTable] {
        guard table[key] != nil else { return [] }
        let value = try value(table, key, path: path)
        guard let array = value.array else { throw fail(path, "must be an array of tables, not \(describe(value.type))") }
        var result: [TOMLTable] = []
        for index in 0..<array.count {
            guard let entry = array[index].table else { throw fail("\(path)[\(index)]", "must be a table") }
            result.append(entry)
        }
        return result
    }

    /// A key in the Rust layout: a table `{ data = "<64 hex>" }`.
    func key(_ table: TOMLTable, _ key: String, path: String) throws -> SecretKey {
        let value = try value(table, key, path: path)
        if value.type == .string {
            throw fail(path, "must be a table with a 'data' field ({ data = \"<64 hex characters>\" }), not a bare string")
        }
        guard let keyTable = value.table else { throw fail(path, "must be a table, not \(describe(value.type))") }
        let hex = try string(keyTable, "data", path: "\(path).data")
        guard hex.utf8.count == 64 else {
            throw fail("\(path).data", "must be 64 hex characters (32 bytes), got \(hex.utf8.count) characters")
        }
        guard let secret = try? SecretKey(hex: hex) else { throw fail("\(path).data", "is not hex") }
        guard !secret.isNull else { throw fail("\(path).data", "is all zero (a null key)") }
        return secret
    }

    func name(_ table: TOMLTable, _ key: String, path: String) throws -> String {
        let text = try string(table, key, path: path)
        if let problem = Names.problem(withName: text) { throw fail(path, problem) }
        return text
    }

    func zone(_ table: TOMLTable, _ key: String, path: String, default defaultZone: String?) throws -> String {
        if table[key] == nil, let defaultZone { return defaultZone }
        let text = try string(table, key, path: path)
        if let problem = Names.problem(withZone: text) { throw fail(path, problem) }
        return text
    }

    func url(_ table: TOMLTable, _ key: String, path: String) throws -> WebSocketURL {
        let text = try string(table, key, path: path)
        guard !text.isEmpty else { throw fail(path, "must not be empty") }
        do {
            return try WebSocketURL(parsing: text)
        } catch let error as PaddingtonError {
            throw fail(path, "is not usable: \(error.message)")
        }
    }
}

/// Reading and writing the files of the project safely.
enum FileIO {
    static func read(_ path: String, code: PaddingtonError.Code) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw PaddingtonError(.fileNotFound, "\(path): no such file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PaddingtonError(.fileSystem, "\(path): cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw PaddingtonError(code, "\(path): not UTF-8 text")
        }
        return text
    }

    /// Writes `text` to `path` with mode 0600: into a temporary file in the same folder, flushed,
    /// then renamed over the target, so a crash never leaves a half-written file. Creates the folder.
    static func writePrivate(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw PaddingtonError(.fileSystem, "\(folder): cannot create the folder", cause: error)
        }
        let temporary = "\(folder)/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PaddingtonError(.fileSystem, "\(path): cannot create a temporary file (\(String(cString: strerror(errno))))")
        }
        var failure: String?
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw PaddingtonError(.fileSystem, "\(path): cannot be written (\(failure))")
        }
    }
}

extension TOMLTable {
    /// TOML text in the layout `toml 0.9` writes: basic strings, no indentation, a final newline.
    func renderedLikeRust() -> String {
        convert(to: .toml, options: []) + "\n"
    }

    static func keyTable(_ key: SecretKey) -> TOMLTable {
        let table = TOMLTable()
        table["data"] = key.exposeHex()
        return table
    }
}
