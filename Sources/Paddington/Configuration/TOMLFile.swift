import Foundation

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

    func parse(_ text: String) throws -> TOML.Table {
        do {
            return try TOML.parse(text)
        } catch let error as TOML.SyntaxError {
            throw PaddingtonError(code, "\(source): not valid TOML: \(error)")
        }
    }

    func value(_ table: TOML.Table, _ key: String, path: String) throws -> TOML.Value {
        guard let value = table[key] else { throw fail(path, "is missing") }
        return value
    }

    func string(_ table: TOML.Table, _ key: String, path: String) throws -> String {
        let value = try value(table, key, path: path)
        guard case .string(let text) = value else { throw fail(path, "must be a string, not \(value.typeName)") }
        return text
    }

    func optionalString(_ table: TOML.Table, _ key: String, path: String) throws -> String? {
        guard table[key] != nil else { return nil }
        return try string(table, key, path: path)
    }

    func integer(_ table: TOML.Table, _ key: String, path: String, range: ClosedRange<Int>) throws -> Int {
        let value = try value(table, key, path: path)
        guard case .integer(let number) = value else { throw fail(path, "must be an integer, not \(value.typeName)") }
        guard range.contains(number) else { throw fail(path, "is \(number), outside \(range.lowerBound)...\(range.upperBound)") }
        return number
    }

    func optionalInteger(_ table: TOML.Table, _ key: String, path: String, range: ClosedRange<Int>) throws -> Int? {
        guard table[key] != nil else { return nil }
        return try integer(table, key, path: path, range: range)
    }

    /// An optional array of strings (empty when the key is absent).
    func strings(_ table: TOML.Table, _ key: String, path: String) throws -> [String] {
        guard let value = table[key] else { return [] }
        guard case .array(let items) = value else { throw fail(path, "must be an array of strings, not \(value.typeName)") }
        return try items.enumerated().map { index, item in
            guard case .string(let text) = item else { throw fail("\(path)[\(index)]", "must be a string, not \(item.typeName)") }
            return text
        }
    }

    func table(_ table: TOML.Table, _ key: String, path: String) throws -> TOML.Table {
        let value = try value(table, key, path: path)
        guard case .table(let inner) = value else { throw fail(path, "must be a table, not \(value.typeName)") }
        return inner
    }

    func tables(_ table: TOML.Table, _ key: String, path: String) throws -> [TOML.Table] {
        guard table[key] != nil else { return [] }
        let value = try value(table, key, path: path)
        guard case .array(let array) = value else { throw fail(path, "must be an array of tables, not \(value.typeName)") }
        return try array.enumerated().map { index, item in
            guard case .table(let entry) = item else { throw fail("\(path)[\(index)]", "must be a table") }
            return entry
        }
    }

    /// A key in the Rust layout: a table `{ data = "<64 hex>" }`.
    func key(_ table: TOML.Table, _ key: String, path: String) throws -> SecretKey {
        let value = try value(table, key, path: path)
        if case .string = value {
            throw fail(path, "must be a table with a 'data' field ({ data = \"<64 hex characters>\" }), not a bare string")
        }
        guard case .table(let keyTable) = value else { throw fail(path, "must be a table, not \(value.typeName)") }
        let hex = try string(keyTable, "data", path: "\(path).data")
        guard hex.utf8.count == 64 else {
            throw fail("\(path).data", "must be 64 hex characters (32 bytes), got \(hex.utf8.count) characters")
        }
        guard let secret = try? SecretKey(hex: hex) else { throw fail("\(path).data", "is not hex") }
        guard !secret.isNull else { throw fail("\(path).data", "is all zero (a null key)") }
        return secret
    }

    func name(_ table: TOML.Table, _ key: String, path: String) throws -> String {
        let text = try string(table, key, path: path)
        if let problem = Names.problem(withName: text) { throw fail(path, problem) }
        return text
    }

    func zone(_ table: TOML.Table, _ key: String, path: String, default defaultZone: String?) throws -> String {
        if table[key] == nil, let defaultZone { return defaultZone }
        let text = try string(table, key, path: path)
        if let problem = Names.problem(withZone: text) { throw fail(path, problem) }
        return text
    }

    func url(_ table: TOML.Table, _ key: String, path: String) throws -> WebSocketURL {
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
    ///
    /// With `replacing` false an existing file is never touched: the temporary file is hard-linked
    /// to `path`, which fails atomically when `path` exists (on a file system without hard links,
    /// the check and the rename are two steps).
    static func writePrivate(_ text: String, to path: String, replacing: Bool = true) throws {
        if !replacing, FileManager.default.fileExists(atPath: path) {
            throw PaddingtonError(.fileSystem, "\(path) already exists")
        }
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
        if failure == nil {
            if replacing {
                if rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
            } else {
                if link(temporary, path) != 0 {
                    let code = errno
                    if code == EEXIST {
                        unlink(temporary)
                        throw PaddingtonError(.fileSystem, "\(path) already exists")
                    }
                    if FileManager.default.fileExists(atPath: path) {
                        failure = String(cString: strerror(code))
                    } else if rename(temporary, path) != 0 {
                        failure = String(cString: strerror(errno))
                    }
                }
                unlink(temporary)
            }
        }
        if let failure {
            unlink(temporary)
            throw PaddingtonError(.fileSystem, "\(path): cannot be written (\(failure))")
        }
    }
}

extension TOML.Value {
    /// A key in the Rust layout: a table `{ data = "<64 lowercase hex>" }`.
    static func key(_ key: SecretKey) -> TOML.Value {
        var table = TOML.Table()
        table["data"] = .string(key.exposeHex())
        return .table(table)
    }

    /// A table with one entry.
    static func single(_ key: String, _ value: TOML.Value) -> TOML.Value {
        var table = TOML.Table()
        table[key] = value
        return .table(table)
    }
}
