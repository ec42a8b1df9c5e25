import NIOCore
import Testing
@testable import Paddington

@Suite("Deadline queue")
struct DeadlineQueueTests {
    static let base = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static func at(_ milliseconds: Int64) -> NIODeadline { base + .milliseconds(milliseconds) }

    @Test("keys expire earliest first; removed and replaced deadlines do not fire")
    func order() {
        var queue = DeadlineQueue<Int>()
        for (key, ms) in [(1, 50), (2, 10), (3, 30), (4, 20), (5, 40)] { queue.insert(key, deadline: Self.at(Int64(ms))) }
        queue.remove(4)
        queue.insert(5, deadline: Self.at(5))  // moved earlier
        queue.insert(3, deadline: Self.at(100))  // moved later
        #expect(queue.earliest() == Self.at(5))
        #expect(queue.popExpired(now: Self.at(0)) == [])
        #expect(queue.popExpired(now: Self.at(45)) == [5, 2])
        #expect(queue.count == 2)
        #expect(queue.earliest() == Self.at(50))
        #expect(queue.popExpired(now: Self.at(1000)) == [1, 3])
        #expect(queue.earliest() == nil && queue.count == 0)
    }

    @Test("removed keys do not pile up: the heap stays within a small factor of the live deadlines")
    func compaction() {
        var queue = DeadlineQueue<Int>()
        for key in 0..<100_000 {
            queue.insert(key, deadline: Self.at(Int64(key)))
            if key >= 10 { queue.remove(key - 10) }
        }
        #expect(queue.count == 10)
        #expect(queue.storedEntries <= 2 * 10 + 65)
        #expect(queue.popExpired(now: Self.at(1_000_000)) == Array(99_990..<100_000))
    }

    @Test("a random mix of inserts and removes expires exactly the live keys, in deadline order")
    func randomized() {
        var generator = SystemRandomNumberGenerator()
        var queue = DeadlineQueue<Int>()
        var model: [Int: Int64] = [:]
        for _ in 0..<5000 {
            let key = Int.random(in: 0..<300, using: &generator)
            if Bool.random(using: &generator) {
                let ms = Int64.random(in: 0..<10_000, using: &generator)
                queue.insert(key, deadline: Self.at(ms))
                model[key] = ms
            } else {
                queue.remove(key)
                model[key] = nil
            }
        }
        let expired = queue.popExpired(now: Self.at(5000))
        let expected = model.filter { $0.value <= 5000 }
        #expect(Set(expired) == Set(expected.keys))
        #expect(expired.map { model[$0]! } == expected.values.sorted())
        #expect(queue.count == model.count - expected.count)
    }
}
