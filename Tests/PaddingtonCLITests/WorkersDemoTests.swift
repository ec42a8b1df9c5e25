import Foundation
import PaddingtonTestSupport
import Testing

/// The workers example end to end: a coordinator and worker processes over distributed actor calls.
@Suite("paddington-workers demo")
struct WorkersDemoTests {
    @Test("every job completes exactly once, also when a worker is killed mid-run")
    func killOne() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, out, err) = try await ChildProcess.run("paddington-workers", ["demo", "--jobs", "90", "--workers", "3", "--kill-one"], in: folder)
        #expect(status == 0, "\(out)\n\(err.suffix(2000))")
        let summary = try #require(out.split(separator: "\n").last.map(String.init))
        #expect(summary.hasPrefix("jobs done 90 of 90, retried "), "\(summary)")
        #expect(summary.hasSuffix(", failed 0"), "\(summary)")
        // The killed worker had a job in flight when it died (it works without a pause), and it was retried.
        let retried = Int(summary.split(separator: ",")[1].split(separator: " ").last ?? "") ?? 0
        #expect(retried >= 1, "\(summary)")
    }

    @Test("without a kill, nothing is retried")
    func plain() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, out, err) = try await ChildProcess.run("paddington-workers", ["demo", "--jobs", "30", "--workers", "2"], in: folder)
        #expect(status == 0, "\(err.suffix(2000))")
        #expect(out.hasSuffix("jobs done 30 of 30, retried 0, failed 0\n"), "\(out)")
    }
}
