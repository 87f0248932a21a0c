import BallastStorage
import Testing

/// When the shared database counts as away, and who probes it.
@Suite struct ReachabilityTests {
    @Test func aLostConnectionIsProofAndOneProbeRunsUntilItAnswers() {
        var r = Reachability(probeIntervalNanos: 1_000)
        #expect(r.admits)
        let step1 = r.operationFailed(.connection, reason: "refused", now: 10)
        #expect(step1, "the first failure starts the probe")
        #expect(!r.admits)
        #expect(r.state == .unreachable(sinceNanos: 10, reason: "refused"))
        let step2 = r.operationFailed(.connection, reason: "refused", now: 11)
        #expect(!step2, "no second probe while one runs")
        let step3 = r.operationFailed(.timeout, reason: "slow", now: 12)
        #expect(!step3)
        let step4 = r.probeEnded(answered: false, reason: "refused again", now: 20)
        #expect(step4, "a failed probe asks for the next")
        #expect(r.state == .unreachable(sinceNanos: 10, reason: "refused"), "the outage keeps its start")
        let step5 = r.probeEnded(answered: true, reason: "", now: 30)
        #expect(!step5)
        #expect(r.admits)
        #expect(r.state == .reachable)
        #expect(!r.probing)
    }

    @Test func aSlowAnswerOnlyMakesItSuspectAndTheProbeDecides() {
        var slow = Reachability()
        let step6 = slow.operationFailed(.timeout, reason: "no answer within 1 s", now: 0)
        #expect(step6)
        #expect(slow.state == .suspect)
        #expect(slow.admits, "a suspect database still takes operations")
        let step7 = slow.probeEnded(answered: true, reason: "", now: 5)
        #expect(!step7)
        #expect(slow.state == .reachable)

        var away = Reachability()
        _ = away.operationFailed(.timeout, reason: "no answer within 1 s", now: 0)
        let step8 = away.probeEnded(answered: false, reason: "no answer to a probe", now: 7)
        #expect(step8)
        #expect(away.state == .unreachable(sinceNanos: 7, reason: "no answer to a probe"))
        #expect(!away.admits)
        // A connection error while suspect is proof at once.
        var suspect = Reachability()
        _ = suspect.operationFailed(.timeout, reason: "slow", now: 0)
        let step9 = suspect.operationFailed(.connection, reason: "reset", now: 3)
        #expect(!step9, "the running probe is enough")
        #expect(!suspect.admits)
    }

    @Test func anAnswerWhileSuspectClearsIt() {
        var r = Reachability()
        _ = r.operationFailed(.timeout, reason: "slow", now: 0)
        r.answered()
        #expect(r.state == .reachable)
    }
}
