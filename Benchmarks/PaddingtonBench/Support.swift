import Foundation
import Logging
import NIOConcurrencyHelpers
import Paddington

/// A window of `size` requests in flight: `acquire` waits while the window is full.
final class Window: Sendable {
    private let state: NIOLockedValueBox<(available: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(size: Int) { state = NIOLockedValueBox((size, [])) }

    func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLockedValue { value -> Bool in
                if value.available > 0 {
                    value.available -= 1
                    return true
                }
                value.waiters.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    func release() {
        let waiter = state.withLockedValue { value -> CheckedContinuation<Void, Never>? in
            if value.waiters.isEmpty {
                value.available += 1
                return nil
            }
            return value.waiters.removeFirst()
        }
        waiter?.resume()
    }
}

@_silgen_name("malloc_trim")
private func mallocTrim(_ pad: Int) -> Int32

/// CPU seconds (user + system) of this process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Resident memory of this process in bytes (from /proc/self/statm), after returning free heap
/// pages to the system so that memory freed by earlier scenarios does not hide new allocations.
func residentBytes() -> Int {
    _ = mallocTrim(0)
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)
    return sorted[max(0, index)]
}
