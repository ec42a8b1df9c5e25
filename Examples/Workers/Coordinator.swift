import Distributed
import Paddington
import PaddingtonActors

/// Hands jobs to the workers' actors, one job at a time per worker, and gives a job back to the queue
/// when its worker's link is lost (the job may or may not have run there: results are kept once per id).
actor Coordinator {
    struct Summary {
        var done: Int
        var total: Int
        var retried: Int
        var failed: Int
        var completedTwice: Int
    }

    private let system: MeshActorSystem
    private var queue: [Job]
    private var results: [Int: JobResult] = [:]
    private var retried = 0
    private var failed = 0
    private var completedTwice = 0
    private var inFlight = 0
    private let total: Int

    init(system: MeshActorSystem, jobs: [Job]) {
        self.system = system
        queue = jobs.reversed()
        total = jobs.count
    }

    var done: Int { results.count }

    /// Runs every job on `workers` (the services hosting a `worker` actor) and returns the tally.
    func run(on workers: [String], timeout: Duration) async -> Summary {
        await withTaskGroup(of: Void.self) { group in
            for name in workers {
                group.addTask { await self.drive(name, timeout: timeout) }
            }
        }
        failed += queue.count
        return Summary(done: results.count, total: total, retried: retried, failed: failed, completedTwice: completedTwice)
    }

    /// One worker's loop: take a job, run it there, record it; stop when the queue is empty or the
    /// worker is gone.
    private func drive(_ name: String, timeout: Duration) async {
        guard let worker = try? JobWorker.resolve(id: system.id(of: "worker", on: name), using: system) else { return }
        while true {
            guard let job = queue.popLast() else {
                // Nothing queued, but a job in flight elsewhere may come back if its worker is lost.
                if inFlight == 0 { return }
                try? await Task.sleep(for: .milliseconds(5))
                continue
            }
            inFlight += 1
            defer { inFlight -= 1 }
            do {
                let result = try await system.withCallTimeout(timeout) { try await worker.run(job) }
                record(result)
            } catch let error as PaddingtonError where [.linkLost, .peerNotConnected, .deadlineExceeded].contains(error.code) {
                // Lost with its worker: another worker takes it.
                queue.append(job)
                retried += 1
                return
            } catch {
                failed += 1
            }
        }
    }

    private func record(_ result: JobResult) {
        if results[result.id] != nil { completedTwice += 1 } else { results[result.id] = result }
    }
}
