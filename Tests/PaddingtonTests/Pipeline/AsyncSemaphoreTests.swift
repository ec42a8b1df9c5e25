import Testing
@testable import Paddington

@Suite("Async semaphore")
struct AsyncSemaphoreTests {
    @Test("waiters cancelled while others release: each resumed once, and every slot comes back")
    func cancelWhileReleasing() async throws {
        let semaphore = AsyncSemaphore(limit: 2)
        for _ in 0..<200 {
            try await semaphore.acquire()
            try await semaphore.acquire()
            // Both slots taken: these wait, and are cancelled while the slots are given back.
            let waiters = (0..<4).map { _ in Task { try await semaphore.acquire(); semaphore.release() } }
            await Task.yield()
            for waiter in waiters { waiter.cancel() }
            semaphore.release()
            semaphore.release()
            for waiter in waiters { _ = try? await waiter.value }
        }
        // Both slots are free again: two acquires go through at once.
        try await semaphore.acquire()
        try await semaphore.acquire()
    }
}
