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
        #expect(verdict == .rollBack(reason: "canary p99 1000 ms > 500 ms (stable 5 ms)"))
    }

    @Test func p99ComesFromTheBuckets() {
        var s = stats(requests: 99, errors: 0, latencyMs: 3)
        #expect(s.p99Milliseconds == 5)
        s.record(nanos: 2_000_000_000, error: false)
        #expect(s.p99Milliseconds == 5)
        s.record(nanos: 2_000_000_000, error: false)
        #expect(s.p99Milliseconds == 2500)
        #expect(WindowStats().p99Milliseconds == 0)
    }
}
