// Reproduces, without NIO or swift-paddington, the ThreadSanitizer report that handOffFromEventLoop()
// (Sources/Paddington/Transport/HandOff.swift) exists to prevent.
//
//   swiftc -sanitize=thread -parse-as-library scripts/tsan-continuation-gap.swift -o /tmp/gap
//   /tmp/gap late              # resume after the task suspended: no report
//   /tmp/gap early             # resume before the task reaches its await: "data race" reported
//   /tmp/gap early annotated   # the same, with the acquire the library adds: no report
//
// A plain thread (standing in for an event loop) creates an object and hands it to a task only through
// UnsafeContinuation.resume. The runtime orders that correctly, with atomics ThreadSanitizer cannot
// see, and annotates the hand-off for it only when the task's job is enqueued again; when the resume
// wins the race with the await, the task continues inline and ThreadSanitizer misses the edge.
import Foundation
import Synchronization

final class Box: @unchecked Sendable {
    var value: Int
    init(_ value: Int) { self.value = value }
}

/// Set with relaxed ordering only, so it gives ThreadSanitizer no happens-before edge of its own.
final class Flag: Sendable {
    let raised = Atomic<Bool>(false)
}

@_silgen_name("__tsan_acquire")
func threadSanitizerAcquire(_ address: UnsafeRawPointer)

func handOff(early: Bool, annotated: Bool, rounds: Int) async -> Int {
    var total = 0
    for round in 0..<rounds {
        let box: Box = await withUnsafeContinuation { (continuation: UnsafeContinuation<Box, Never>) in
            let resumed = Flag()
            let thread = Thread {
                if !early { usleep(2_000) }
                continuation.resume(returning: Box(round))
                resumed.raised.store(true, ordering: .relaxed)
            }
            thread.start()
            // Hold the task before its await until the resume has happened.
            while early, !resumed.raised.load(ordering: .relaxed) { sched_yield() }
        }
        if annotated {
            withUnsafeCurrentTask { task in
                if let task { threadSanitizerAcquire(unsafeBitCast(task, to: UnsafeRawPointer.self)) }
            }
        }
        total += box.value
    }
    return total
}

@main
struct ContinuationGap {
    static func main() async {
        let arguments = CommandLine.arguments.dropFirst()
        let early = arguments.contains("early")
        let annotated = arguments.contains("annotated")
        let total = await handOff(early: early, annotated: annotated, rounds: 200)
        print("\(early ? "early" : "late") resume\(annotated ? ", annotated" : ""): checksum \(total)")
    }
}
