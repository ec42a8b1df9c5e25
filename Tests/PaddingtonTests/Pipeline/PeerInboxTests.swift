import NIOConcurrencyHelpers
import Testing
@testable import Paddington

@Suite("Per-peer inbox")
struct PeerInboxTests {
    static func message(_ text: String) -> Message {
        Message(sender: "peer", recipient: "me", zone: "default", payload: text)
    }

    @Test("messages come out in order; finish drains the queue, then ends")
    func orderAndFinish() async throws {
        let inbox = PeerInbox(limits: .init(messages: 10, bytes: 1000))
        for n in 0..<5 { try await inbox.enqueue(Self.message("m\(n)")) }
        inbox.finish()
        var out: [String] = []
        while let message = await inbox.next() { out.append(message.payload) }
        #expect(out == (0..<5).map { "m\($0)" })
        #expect(await inbox.next() == nil)
    }

    @Test("a full queue (by count or by bytes) holds the producer until a consumer takes a message",
          arguments: [(2, 1000), (100, 5)])
    func backpressure(messages: Int, bytes: Int) async throws {
        let inbox = PeerInbox(limits: .init(messages: messages, bytes: bytes))
        // Two 2-byte messages fill both kinds of queue: 2 messages, or 4 of 5 bytes.
        try await inbox.enqueue(Self.message("m1"))
        try await inbox.enqueue(Self.message("m2"))
        let admitted = NIOLockedValueBox(false)
        let producer = Task {
            try await inbox.enqueue(Self.message("m3"))
            admitted.withLockedValue { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!admitted.withLockedValue { $0 }, "the third message was queued over the limit")
        #expect(inbox.count == 2)
        #expect(await inbox.next()?.payload == "m1")
        try await producer.value
        #expect(admitted.withLockedValue { $0 })
        #expect(await inbox.next()?.payload == "m2")
        #expect(await inbox.next()?.payload == "m3")
    }

    @Test("one message is let in when the queue is empty, whatever its size")
    func oversizedWhenEmpty() async throws {
        let inbox = PeerInbox(limits: .init(messages: 10, bytes: 4))
        try await inbox.enqueue(Self.message(String(repeating: "x", count: 100)))
        #expect(inbox.count == 1)
    }

    @Test("a waiting consumer gets the next message directly; concurrent consumers share the queue")
    func consumers() async throws {
        let inbox = PeerInbox(limits: .init(messages: 4, bytes: 1000))
        let seen = NIOLockedValueBox<[String]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    while let message = await inbox.next() { seen.withLockedValue { $0.append(message.payload) } }
                }
            }
            for n in 0..<100 { try await inbox.enqueue(Self.message("m\(n)")) }
            inbox.finish()
            try await group.waitForAll()
        }
        #expect(Set(seen.withLockedValue { $0 }) == Set((0..<100).map { "m\($0)" }))
        #expect(seen.withLockedValue { $0.count } == 100)
    }

    @Test("a producer waiting for room is released by cancellation, and its message is not queued")
    func cancelledProducer() async throws {
        let inbox = PeerInbox(limits: .init(messages: 1, bytes: 1000))
        try await inbox.enqueue(Self.message("first"))
        let producer = Task { try await inbox.enqueue(Self.message("second")) }
        try await Task.sleep(for: .milliseconds(50))
        producer.cancel()
        await #expect(throws: CancellationError.self) { try await producer.value }
        #expect(inbox.count == 1)
        #expect(inbox.discardAll() == 1)
        #expect(inbox.count == 0)
    }
}
