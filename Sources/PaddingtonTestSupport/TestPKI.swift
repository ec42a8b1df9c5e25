import Foundation
import Paddington

/// Two CAs (`ca` signs every server certificate; `other-ca` signs nothing here) and server
/// certificates signed by `ca`: `good` (localhost and 127.0.0.1), `wrong-host` (other.example and
/// 127.0.0.1), `expired` (localhost and 127.0.0.1, valid on 1 January 2020 only), `wildcard`
/// (*.mesh.test).
package struct TestPKI: Sendable {
    package let folder: URL

    package func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    package static func make() throws -> TestPKI {
        let pki = TestPKI(folder: try temporaryFolder())
        try pki.makeCA("ca", name: "Paddington Test CA")
        try pki.makeCA("other-ca", name: "Someone Else's CA")
        try pki.makeLeaf("good", names: "DNS:localhost,IP:127.0.0.1")
        try pki.makeLeaf("wrong-host", names: "DNS:other.example,IP:127.0.0.1")
        try pki.makeLeaf("expired", names: "DNS:localhost,IP:127.0.0.1", expired: true)
        try pki.makeLeaf("wildcard", names: "DNS:*.mesh.test")
        return pki
    }

    package func remove() { try? FileManager.default.removeItem(at: folder) }

    private func makeCA(_ name: String, name subject: String) throws {
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "2", "-subj", "/CN=\(subject)",
        ])
        try restrict(path("\(name).key"))
    }

    private func makeLeaf(_ name: String, names: String, expired: Bool = false) throws {
        try openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)",
        ])
        try restrict(path("\(name).key"))
        try "subjectAltName=\(names)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        if expired {
            // `openssl ca` takes explicit dates (`x509 -not_after` is newer than OpenSSL 3.0).
            let database = folder.appendingPathComponent("db-\(name)")
            try FileManager.default.createDirectory(at: database, withIntermediateDirectories: true)
            try "".write(to: database.appendingPathComponent("index.txt"), atomically: true, encoding: .utf8)
            try "01\n".write(to: database.appendingPathComponent("serial"), atomically: true, encoding: .utf8)
            let configuration = """
                [ ca ]
                default_ca = test
                [ test ]
                database = \(database.path)/index.txt
                new_certs_dir = \(database.path)
                serial = \(database.path)/serial
                default_md = sha256
                policy = any
                unique_subject = no
                [ any ]
                commonName = supplied

                """
            try configuration.write(toFile: path("\(name).cnf"), atomically: true, encoding: .utf8)
            try openssl([
                "ca", "-batch", "-notext", "-config", path("\(name).cnf"), "-cert", path("ca.pem"), "-keyfile", path("ca.key"),
                "-in", path("\(name).csr"), "-out", path("\(name).pem"), "-extfile", path("\(name).ext"),
                "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
            ])
        } else {
            try openssl([
                "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
                "-CAcreateserial", "-days", "2", "-extfile", path("\(name).ext"), "-out", path("\(name).pem"),
            ])
        }
    }

    private func restrict(_ path: String) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Runs `openssl`, its output discarded unless it fails.
    private func openssl(_ arguments: [String]) throws {
        let (status, output) = try TestPKI.run(arguments)
        guard status == 0 else { throw PaddingtonError(.transport, "openssl \(arguments.first ?? "") failed: \(output.suffix(500))") }
    }

    /// Runs `openssl` with no input (bounded: 30 s) and returns its exit status and output.
    package static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let output = folderOutput()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output.handle
        process.standardError = output.handle
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            throw PaddingtonError(.timeout, "openssl \(arguments.first ?? "") took longer than 30 s")
        }
        try? output.handle.close()
        let text = (try? String(contentsOf: output.url, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: output.url)
        return (process.terminationStatus, text)
    }

    /// A file for a child's output (a pipe could fill up and stall it).
    private static func folderOutput() -> (url: URL, handle: FileHandle) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paddington-openssl-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        return (url, (try? FileHandle(forWritingTo: url)) ?? FileHandle.nullDevice)
    }
}
