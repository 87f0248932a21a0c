import BallastConfig
import BallastProxy
import Testing
@testable import BallastControl

func stats(requests: Int, errors: Int, latencyMs: Int64 = 5) -> WindowStats {
    var s = WindowStats()
    for i in 0..<requests { s.record(nanos: latencyMs * 1_000_000, error: i < errors) }
    return s
}

@Suite struct RolloutJudgeTests {
    var policy: Rollout {
        var p = Rollout()
        p.watch = .seconds(20)
        p.errorRateAbove = 2
        p.healthyBelow = 50
        p.p99Above = .milliseconds(500)
        return p
    }

    @Test func aHealthyCanaryIsPromotedWhenTheWatchEnds() {
        let judge = RolloutJudge(policy: policy)
        let good = stats(requests: 100, errors: 0)
        #expect(judge.judge(elapsed: .seconds(5), canary: good, stable: good, healthyPercent: 100) == .keepWatching)
        #expect(judge.judge(elapsed: .seconds(20), canary: good, stable: good, healthyPercent: 100) == .promote)
    }

    @Test func errorsAboveTheThresholdAndAboveStableRollBack() {
        let judge = RolloutJudge(policy: policy)
        let verdict = judge.judge(elapsed: .seconds(1), canary: stats(requests: 50, errors: 5), stable: stats(requests: 500, errors: 0), healthyPercent: 100)
        #expect(verdict == .rollBack(reason: "canary error rate 10% > 2% (stable 0%) over 50 requests"))
    }

    @Test func errorsEverywhereAreNotTheChangesFault() {
        let judge = RolloutJudge(policy: policy)
        let verdict = judge.judge(elapsed: .seconds(1), canary: stats(requests: 50, errors: 5), stable: stats(requests: 500, errors: 100), healthyPercent: 100)
        #expect(verdict == .keepWatching)
    }

    @Test func tooFewRequestsDecideNothingButHealthStillCounts() {
        let judge = RolloutJudge(policy: policy)
        #expect(judge.judge(elapsed: .seconds(1), canary: stats(requests: 3, errors: 3), stable: WindowStats(), healthyPercent: 100) == .keepWatching)
        #expect(judge.judge(elapsed: .seconds(1), canary: WindowStats(), stable: WindowStats(), healthyPercent: 0)
                == .rollBack(reason: "only 0% of the canary's servers are healthy (rollback below 50%)"))
    }

    @Test func aSlowCanaryRollsBack() {
        let judge = RolloutJudge(policy: policy)
        let verdict = judge.judge(elapsed: .seconds(1), canary: stats(requests: 20, errors: 0, latencyMs: 900),
                                  stable: stats(requests: 200, errors: 0, latencyMs: 5), healthyPercent: 100)
        guard case .rollBack(let reason) = verdict else { Issue.record("\(verdict)"); return }
        #expect(reason.hasPrefix("canary p99 900") && reason.hasSuffix("ms > 500 ms (stable 5 ms)"), "\(reason)")
    }

    /// `p99_above: 300ms` means 300 ms: a canary at 260 ms stays (the old buckets read its
    /// p99 as 500 ms and rolled it back), one at 310 ms goes.
    @Test func theP99LimitIsTheLatencyItNames() {
        var strict = policy
        strict.p99Above = .milliseconds(300)
        let judge = RolloutJudge(policy: strict)
        let stable = stats(requests: 200, errors: 0, latencyMs: 5)
        #expect(judge.judge(elapsed: .seconds(1), canary: stats(requests: 50, errors: 0, latencyMs: 260), stable: stable, healthyPercent: 100)
                == .keepWatching)
        #expect(judge.judge(elapsed: .seconds(1), canary: stats(requests: 50, errors: 0, latencyMs: 310), stable: stable, healthyPercent: 100)
                != .keepWatching)
    }

    @Test func p99IsTheNinetyNinthPercentileWithinATenthOfAPercent() {
        // Nearest rank: the p99 of N requests is the ceil(0.99 N)-th fastest.
        var s = stats(requests: 99, errors: 0, latencyMs: 3)
        #expect(abs(s.p99Milliseconds - 3) <= 0.003)
        s.record(nanos: 2_000_000_000, error: false)
        #expect(abs(s.p99Milliseconds - 3) <= 0.003)  // 1 of 100 is slow: the 99th is still 3 ms
        s.record(nanos: 2_000_000_000, error: false)
        #expect(abs(s.p99Milliseconds - 2000) <= 2)  // 2 of 101
        #expect(WindowStats().p99Milliseconds == 0)
        // 1 ms to 1000 ms evenly: the p99 is 990 ms, not a bucket's 1000.
        var even = WindowStats()
        for ms in 1...1000 { even.record(nanos: Int64(ms) * 1_000_000, error: false) }
        #expect(abs(even.p99Milliseconds - 990) <= 1, "\(even.p99Milliseconds)")
        #expect(abs(even.summary.p50Milliseconds - 500) <= 0.5)
        // Summing loops keeps the distribution: two halves give the same p99 as the whole.
        var low = WindowStats(), high = WindowStats()
        for ms in 1...1000 { if ms <= 500 { low.record(nanos: Int64(ms) * 1_000_000, error: false) } else { high.record(nanos: Int64(ms) * 1_000_000, error: false) } }
        #expect((low + high).p99Milliseconds == even.p99Milliseconds && (low + high).requests == 1000)
        // Beyond a minute counts as a minute, not lost.
        var slow = WindowStats()
        slow.record(nanos: 3_600_000_000_000, error: false)
        #expect(abs(slow.p99Milliseconds - 60_000) <= 60)
    }
}
