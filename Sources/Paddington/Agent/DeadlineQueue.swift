import NIOCore

/// Deadlines by key, earliest first: a binary min-heap with lazy removal (a removed or replaced key's
/// old entry stays in the heap until it reaches the top or the heap is compacted). A pure value type.
struct DeadlineQueue<Key: Hashable> {
    private var heap: [(deadline: NIODeadline, key: Key)] = []
    private var live: [Key: NIODeadline] = [:]

    /// Keys with a deadline.
    var count: Int { live.count }

    /// Sets `key`'s deadline (replacing an earlier one).
    mutating func insert(_ key: Key, deadline: NIODeadline) {
        live[key] = deadline
        push((deadline, key))
        // Removed keys leave entries behind; keep the heap within a small factor of the live set.
        if heap.count > 2 * live.count + 64 { compact() }
    }

    /// Removes `key`'s deadline.
    mutating func remove(_ key: Key) {
        live[key] = nil
    }

    /// Removes every deadline.
    mutating func removeAll() {
        heap.removeAll()
        live.removeAll()
    }

    /// The earliest live deadline.
    mutating func earliest() -> NIODeadline? {
        dropStaleTop()
        return heap.first?.deadline
    }

    /// Removes and returns the keys whose deadline is at or before `now`, earliest first.
    mutating func popExpired(now: NIODeadline) -> [Key] {
        var expired: [Key] = []
        while true {
            dropStaleTop()
            guard let top = heap.first, top.deadline <= now else { return expired }
            pop()
            live[top.key] = nil
            expired.append(top.key)
        }
    }

    /// Entries in the heap, stale ones included (for tests of the compaction).
    var storedEntries: Int { heap.count }

    private mutating func dropStaleTop() {
        while let top = heap.first, live[top.key] != top.deadline { pop() }
    }

    private mutating func compact() {
        heap = live.map { (deadline: $0.value, key: $0.key) }
        // Heapify from the last parent down.
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    private mutating func push(_ entry: (deadline: NIODeadline, key: Key)) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() {
        guard !heap.isEmpty else { return }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

extension DeadlineQueue: Sendable where Key: Sendable {}
