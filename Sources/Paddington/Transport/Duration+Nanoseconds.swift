import NIOCore

extension Duration {
    /// Whole nanoseconds, saturating.
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }

    var seconds: Double { Double(nanoseconds) / 1e9 }

    /// The same span for NIO's timers (saturating).
    package var timeAmount: TimeAmount { .nanoseconds(nanoseconds) }
}
