/// Marks where a task starts using something an event loop handed it through a continuation: a frame
/// from an inbound stream, the result of a future.
///
/// It does nothing, and compiles to nothing, except in ThreadSanitizer builds made by
/// `scripts/sanitizers.sh thread`, which define `PADDINGTON_TSAN`.
///
/// Why it exists: the Swift runtime tells ThreadSanitizer that resuming a continuation happens before
/// the resumed task runs again (a release on the task in `resume`, an acquire when the task's job next
/// starts). When the resume arrives *before* the task has reached its `await` (an event loop that
/// answers at once), the task carries straight on inside the same job and the acquire never happens.
/// The hand-off is correctly ordered by the runtime's own atomics, which ThreadSanitizer cannot see, so
/// it reports the event loop's writes to the value (a `WebSocketFrame`, its `ByteBuffer`) as a race
/// with the task's reads. Acquiring on the current task here adds back exactly the edge the runtime
/// released. `scripts/tsan-continuation-gap.swift` reproduces the gap without NIO or this package;
/// docs/security.md has the details.
@inline(__always)
package func handOffFromEventLoop() {
    #if PADDINGTON_TSAN
    withUnsafeCurrentTask { task in
        guard let task else { return }
        // An `UnsafeCurrentTask` is one reference to the task object: the address the runtime releases on.
        threadSanitizerAcquire(unsafeBitCast(task, to: UnsafeRawPointer.self))
    }
    #endif
}

#if PADDINGTON_TSAN
/// `void __tsan_acquire(void *addr)` from the ThreadSanitizer runtime, linked into sanitizer builds only.
@_silgen_name("__tsan_acquire")
private func threadSanitizerAcquire(_ address: UnsafeRawPointer)
#endif
