import BallastConfig
import BallastProxy
import Foundation

/// Decides a staged rollout from what canary and stable traffic did in the same window.
///
/// Pure: the controller feeds it elapsed time and counts, so every rule is tested without
/// sockets or clocks. The canary is judged against the rest, not in isolation: an error rate
/// above the threshold rolls back only when the canary is also worse than stable (a backend
/// outage that hits both is not the change's fault).
package struct RolloutJudge: Sendable {
    package enum Verdict: Sendable, Equatable {
        case keepWatching
        case promote
        case rollBack(reason: String)
    }

    package var policy: Rollout
    /// Canary requests needed before rates and latencies mean anything.
    package var minimumRequests = 10

    package init(policy: Rollout) { self.policy = policy }

    package func judge(elapsed: Duration, canary: WindowStats, stable: WindowStats, healthyPercent: Double) -> Verdict {
        if healthyPercent < policy.healthyBelow {
            return .rollBack(reason: "only \(Int(healthyPercent.rounded()))% of the canary's servers are healthy (rollback below \(Int(policy.healthyBelow))%)")
        }
        if canary.requests >= minimumRequests {
            let rate = canary.errorRatePercent
            if rate > policy.errorRateAbove, rate > stable.errorRatePercent {
                return .rollBack(reason: "canary error rate \(format(rate))% > \(format(policy.errorRateAbove))% (stable \(format(stable.errorRatePercent))%) over \(canary.requests) requests")
            }
            let p99 = canary.p99Milliseconds
            let limit = Double(policy.p99Above.milliseconds)
            if p99 > limit, p99 > stable.p99Milliseconds {
                return .rollBack(reason: "canary p99 \(format(p99)) ms > \(format(limit)) ms (stable \(format(stable.p99Milliseconds)) ms)")
            }
        }
        return elapsed >= policy.watch ? .promote : .keepWatching
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
