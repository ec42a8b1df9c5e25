/// When to dial again after a connection attempt fails or a link drops.
///
/// Exponential backoff with jitter: attempt `n` (0-based) waits a random time in
/// `[(1 - jitter)·d, d]` where `d = min(maximumDelay, initialDelay · multiplier^n)`. With the
/// defaults the first retry comes within a second and later ones within 30 s; many services that
/// restart together spread out instead of retrying in lock-step (the Rust crate waits a fixed 5 s).
public struct ReconnectPolicy: Sendable, Equatable {
    /// The delay before the first retry (before jitter).
    public var initialDelay: Duration
    /// The longest delay (before jitter).
    public var maximumDelay: Duration
    /// How much each failed attempt multiplies the delay.
    public var multiplier: Double
    /// The fraction of the delay that is randomised, from 0 (none) to 1.
    public var jitter: Double

    /// A policy; `multiplier` is raised to at least 1 and `jitter` kept within 0...1.
    public init(
        initialDelay: Duration = .seconds(1),
        maximumDelay: Duration = .seconds(30),
        multiplier: Double = 2,
        jitter: Double = 0.5
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = max(1, multiplier)
        self.jitter = min(1, max(0, jitter))
    }

    /// The delay before attempt `attempt` (0 is the first retry). `random` is in `0...1`.
    public func delay(attempt: Int, random: Double) -> Duration {
        let base = initialDelay.seconds * pow(multiplier, Double(min(attempt, 64)))
        let capped = min(base, maximumDelay.seconds)
        let factor = 1 - jitter * min(1, max(0, random))
        return .nanoseconds(Int64(capped * factor * 1e9))
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var result = 1.0
        var count = Int(exponent)
        while count > 0 && result < 1e12 {
            result *= base
            count -= 1
        }
        return result
    }
}
