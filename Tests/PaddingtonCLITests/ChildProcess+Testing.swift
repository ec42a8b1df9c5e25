import PaddingtonTestSupport
import Testing

extension ChildProcess {
    /// Waits until stdout contains `text`; records an issue, with the ends of both outputs, on timeout.
    func waitForOutput(_ text: String, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
        if await waitUntilOutput(contains: text, timeout: timeout) { return true }
        Issue.record("no '\(text)' within \(timeout); \(outputTails)", sourceLocation: sourceLocation)
        return false
    }
}
