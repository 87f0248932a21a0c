/// Requests, errors and latency of one side of a rollout (canary or stable), counted per
/// event loop without locks and summed by the control plane.
package struct WindowStats: Sendable, Equatable, Codable {
    /// Upper bounds of the latency buckets, in milliseconds (the last one is open).
    package static let bucketBounds: [Double] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, .infinity]

    package var requests = 0
    package var errors = 0
    package var buckets = [Int](repeating: 0, count: WindowStats.bucketBounds.count)

    package init() {}

    package mutating func record(nanos: Int64, error: Bool) {
        requests += 1
        if error { errors += 1 }
        let ms = Double(nanos) / 1e6
        let index = Self.bucketBounds.firstIndex { ms <= $0 } ?? Self.bucketBounds.count - 1
        buckets[index] += 1
    }

    package static func + (a: WindowStats, b: WindowStats) -> WindowStats {
        var sum = a
        sum.requests += b.requests
        sum.errors += b.errors
        for i in sum.buckets.indices { sum.buckets[i] += b.buckets[i] }
        return sum
    }

    /// Errors as a percentage of requests (0 without requests).
    package var errorRatePercent: Double { requests == 0 ? 0 : Double(errors) * 100 / Double(requests) }

    /// The upper bound of the bucket holding the 99th percentile, in milliseconds.
    package var p99Milliseconds: Double {
        guard requests > 0 else { return 0 }
        let target = Int((Double(requests) * 0.99).rounded(.up))
        var seen = 0
        for (i, count) in buckets.enumerated() {
            seen += count
            if seen >= target { return Self.bucketBounds[i] }
        }
        return Self.bucketBounds[Self.bucketBounds.count - 1]
    }
}

/// Both sides of a rollout, as one loop counted them.
package struct RolloutStats: Sendable, Equatable {
    package var canary = WindowStats()
    package var stable = WindowStats()
    package init() {}
}

/// The canary a loop routes a share of new requests to.
struct Canary {
    let runtime: ProxyRuntime
    /// A request goes to the canary when a uniform random 64-bit number is below this.
    let threshold: UInt64

    init(runtime: ProxyRuntime, percent: Double) {
        self.runtime = runtime
        let fraction = min(1, max(0, percent / 100))
        threshold = fraction >= 1 ? .max : UInt64(fraction * Double(UInt64.max))
    }
}
