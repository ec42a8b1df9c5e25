import Foundation

/// Runs `body`, and gives up after `limit`: the result, or nil when the limit came first (the body is
/// then cancelled).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

/// Like ``withDeadline(_:_:)`` for a body that does not stop when cancelled (a blocking lookup on
/// another thread): after `limit` the caller gets nil at once and the body is left to finish alone.
func withDeadlineDetached<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
    let once = ResumeOnce<T?>()
    return try await withCheckedThrowingContinuation { continuation in
        once.arm(continuation)
        let work = Task {
            do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: limit)
            if once.resume(.success(nil)) { work.cancel() }
        }
    }
}

/// A continuation resumed by whichever comes first.
final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?

    func arm(_ continuation: CheckedContinuation<T, any Error>) {
        lock.withLock { self.continuation = continuation }
    }

    /// Resumes the continuation unless it was resumed already; true when this call resumed it.
    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let continuation = lock.withLock {
            defer { self.continuation = nil }
            return self.continuation
        }
        continuation?.resume(with: result)
        return continuation != nil
    }
}
