import NIOConcurrencyHelpers
import Testing
@testable import Paddington

@Suite("Per-peer inbox")
struct PeerInboxTests {
    static func message(_ text: String) -> Message {
        Message(sender: "peer", recipient: "me", zone: "default", payload: text)
    }

    /// Takes messages as a delivery task does, until the inbox says to end.
    static func drain(_ inbox: PeerInbox) -> [String] {
        var out: [String] = []
        while let message = inbox.take() { out.append(message.payload) }
        return out
    }

    @Test("messages come out in order; the first asks for a delivery task, the rest find it running")
    func orderAndFinish() async throws {
        let inbox = PeerInbox(limits: .init(messages: 10, bytes: 1000))
        var starts: [Bool] = []
        for n in 0..<5 { starts.append(try await inbox.enqueue(Self.message("m\(n)"))) }
        #expect(starts == [true, false, false, false, false])
        #expect(inbox.workers == 1)
        inbox.finish()
        #expect(Self.drain(inbox) == (0..<5).map { "m\($0)" })
        // The task that found the queue empty has ended; after finish nothing more is queued.
        #expect(inbox.workers == 0)
        #expect(try await inbox.enqueue(Self.message("late")) == false)
        #expect(inbox.count == 0)
    }

    @Test("an idle link holds no delivery task; the next message starts one again")
    func idleHoldsNoTask() async throws {
        let inbox = PeerInbox(limits: .init(messages: 10, bytes: 1000))
        #expect(inbox.workers == 0)
        #expect(try await inbox.enqueue(Self.message("a")))
        #expect(Self.drain(inbox) == ["a"])
        #expect(inbox.workers == 0)
        #expect(try await inbox.enqueue(Self.message("b")))
        #expect(inbox.workers == 1)
    }

    @Test("a full queue (by count or by bytes) holds the producer until a delivery task takes a message",
          arguments: [(2, 1000), (100, 5)])
    func backpressure(messages: Int, bytes: Int) async throws {
        let inbox = PeerInbox(limits: .init(messages: messages, bytes: bytes))
        // Two 2-byte messages fill both kinds of queue: 2 messages, or 4 of 5 bytes.
        #expect(try await inbox.enqueue(Self.message("m1")))
        #expect(try await inbox.enqueue(Self.message("m2")) == false)
        let admitted = NIOLockedValueBox(false)
        let producer = Task {
            let start = try await inbox.enqueue(Self.message("m3"))
            admitted.withLockedValue { $0 = true }
            return start
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!admitted.withLockedValue { $0 }, "the third message was queued over the limit")
        #expect(inbox.count == 2)
        #expect(inbox.take()?.payload == "m1")
        // Admitted by the running task's take: no second task is asked for.
        #expect(try await producer.value == false)
        #expect(admitted.withLockedValue { $0 })
        #expect(Self.drain(inbox) == ["m2", "m3"])
        #expect(inbox.workers == 0)
    }

    @Test("one message is let in when the queue is empty, whatever its size")
    func oversizedWhenEmpty() async throws {
        let inbox = PeerInbox(limits: .init(messages: 10, bytes: 4))
        _ = try await inbox.enqueue(Self.message(String(repeating: "x", count: 100)))
        #expect(inbox.count == 1)
    }

    @Test("concurrent delivery starts tasks on demand, never more than the limit, and every message is taken once")
    func concurrentTasks() async throws {
        let inbox = PeerInbox(limits: .init(messages: 4, bytes: 1000, workers: 3))
        let seen = NIOLockedValueBox<[String]>([])
        let running = NIOLockedValueBox((now: 0, most: 0))
        try await withThrowingDiscardingTaskGroup { group in
            for n in 0..<100 {
                guard try await inbox.enqueue(Self.message("m\(n)")) else { continue }
                group.addTask {
                    running.withLockedValue { $0.now += 1; $0.most = max($0.most, $0.now) }
                    while let message = inbox.take() {
                        seen.withLockedValue { $0.append(message.payload) }
                        await Task.yield()
                    }
                    running.withLockedValue { $0.now -= 1 }
                }
            }
            inbox.finish()
        }
        #expect(Set(seen.withLockedValue { $0 }) == Set((0..<100).map { "m\($0)" }))
        #expect(seen.withLockedValue { $0.count } == 100)
        #expect(running.withLockedValue { $0.most } <= 3)
        #expect(inbox.workers == 0)
    }

    @Test("a cancelled delivery task ends and leaves the queue for discardAll")
    func cancelledTask() async throws {
        let inbox = PeerInbox(limits: .init(messages: 10, bytes: 1000))
        #expect(try await inbox.enqueue(Self.message("a")))
        _ = try await inbox.enqueue(Self.message("b"))
        #expect(inbox.take(cancelled: true) == nil)
        #expect(inbox.workers == 0)
        #expect(inbox.discardAll() == 2)
    }

    @Test("a producer waiting for room is released by cancellation, and its message is not queued")
    func cancelledProducer() async throws {
        let inbox = PeerInbox(limits: .init(messages: 1, bytes: 1000))
        _ = try await inbox.enqueue(Self.message("first"))
        let producer = Task { try await inbox.enqueue(Self.message("second")) }
        try await Task.sleep(for: .milliseconds(50))
        producer.cancel()
        await #expect(throws: CancellationError.self) { try await producer.value }
        #expect(inbox.count == 1)
        #expect(inbox.discardAll() == 1)
        #expect(inbox.count == 0)
    }
}
