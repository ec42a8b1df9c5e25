import Foundation
import PaddingtonTestSupport
import Testing

/// The committed fuzz corpus, crash reproducers included, replayed on every test run.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/corpus").standardized

    @Test("every seed and every past crash input runs clean", arguments: [
        "envelope", "handshake", "files", "addresses", "v2frame", "v2handshake", "v2session", "negotiation", "agentframe",
    ])
    func replay(target: String) async throws {
        let folder = Self.corpus.appendingPathComponent(target)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map { folder.appendingPathComponent($0).path }
        #expect(files.count >= 2)
        let (status, out, err) = try await ChildProcess.run("paddington-fuzz", [target] + files, in: folder)
        #expect(status == 0, "\(err.suffix(2000))")
        #expect(out.contains("replayed \(files.count) inputs for \(target)"))
    }
}
