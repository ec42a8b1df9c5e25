import Distributed
import PaddingtonActors

/// A job for a worker: a number to factor.
struct Job: Codable, Sendable, Hashable {
    var id: Int
    var number: UInt64
}

/// What a worker made of a job.
struct JobResult: Codable, Sendable, Equatable {
    var id: Int
    var factors: [UInt64]
    var worker: String
}

/// The actor each worker process hosts under the well-known name `worker`.
distributed actor JobWorker {
    typealias ActorSystem = MeshActorSystem

    /// Factors the job's number (slowly enough that a run lasts long enough to lose a worker in it).
    distributed func run(_ job: Job) async throws -> JobResult {
        try await Task.sleep(for: .milliseconds(15))
        var factors: [UInt64] = [], rest = job.number, divisor: UInt64 = 2
        while divisor * divisor <= rest {
            while rest % divisor == 0 {
                factors.append(divisor)
                rest /= divisor
            }
            divisor += 1
        }
        if rest > 1 { factors.append(rest) }
        return JobResult(id: job.id, factors: factors, worker: actorSystem.mesh.configuration.name)
    }
}
