import Histogram

/// Requests, errors and latency of one side of a rollout (canary or stable), counted per
/// event loop without locks and summed by the control plane.
///
/// Latency goes into an HdrHistogram (microseconds, 3 significant digits, up to a minute), so
/// the p99 the rollout judge compares with `p99_above` is the 99th percentile itself within
/// 0.1%, not the upper bound of a bucket (a 260 ms p99 used to read as 500 ms). The histogram
/// (about 64 KiB) is made at the first request, so an idle loop keeps none.
package struct WindowStats: Sendable, Equatable {
    /// The longest latency kept apart; slower requests count as this.
    static let highestMicroseconds: UInt64 = 60_000_000

    package var requests = 0
    package var errors = 0
    private var latency: Histogram<UInt32>?

    package init() {}

    package mutating func record(nanos: Int64, error: Bool) {
        requests += 1
        if error { errors += 1 }
        let micros = min(Self.highestMicroseconds, UInt64(max(1, nanos / 1000)))
        if latency == nil { latency = Self.emptyHistogram() }
        _ = latency!.record(micros)
    }

    private static func emptyHistogram() -> Histogram<UInt32> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    package static func + (a: WindowStats, b: WindowStats) -> WindowStats {
        var sum = a
        sum.requests += b.requests
        sum.errors += b.errors
        if let other = b.latency {
            if sum.latency == nil { sum.latency = emptyHistogram() }
            sum.latency!.add(other)
        }
        return sum
    }

    package static func == (a: WindowStats, b: WindowStats) -> Bool {
        a.requests == b.requests && a.errors == b.errors && a.p99Milliseconds == b.p99Milliseconds
            && a.latency?.totalCount == b.latency?.totalCount && a.latency?.max == b.latency?.max
    }

    /// Errors as a percentage of requests (0 without requests).
    package var errorRatePercent: Double { requests == 0 ? 0 : Double(errors) * 100 / Double(requests) }

    /// The latency at `percentile` (0-100), in milliseconds; 0 without requests.
    package func milliseconds(atPercentile percentile: Double) -> Double {
        guard let latency, latency.totalCount > 0 else { return 0 }
        return Double(latency.valueAtPercentile(percentile)) / 1000
    }

    /// The 99th percentile latency, in milliseconds (0 without requests).
    package var p99Milliseconds: Double { milliseconds(atPercentile: 99) }

    /// What the admin API reports of a side.
    package var summary: WindowSummary {
        WindowSummary(requests: requests, errors: errors, p50Milliseconds: milliseconds(atPercentile: 50),
                      p99Milliseconds: p99Milliseconds)
    }
}

/// One side of a rollout as `ballast apply` and the admin API report it.
package struct WindowSummary: Sendable, Equatable, Codable {
    package var requests: Int
    package var errors: Int
    package var p50Milliseconds: Double
    package var p99Milliseconds: Double
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
