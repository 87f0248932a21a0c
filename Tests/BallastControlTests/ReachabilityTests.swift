import BallastStorage
import Testing

/// When the shared database counts as away: only a probe decides, and one slow probe does not.
@Suite struct ReachabilityTests {
    @Test func whatOperationsSeeOnlyMakesItSuspect() {
        var r = Reachability()
        let first = r.operationFailed()
        #expect(first, "the first failure starts a probe")
        #expect(r.state == .suspect)
        #expect(r.admits, "a suspect database still takes operations")
        let second = r.operationFailed()
        #expect(!second, "no second probe while one runs")
        let more = r.probeEnded(answered: true, reason: "", now: 2)
        #expect(!more)
        #expect(r.state == .reachable, "one dropped connection refuses nothing")
    }

    @Test func aRefusedProbeIsProofAndProbesRunUntilOneIsAnswered() {
        var r = Reachability(probeIntervalNanos: 1_000)
        _ = r.operationFailed()
        let again = r.probeEnded(answered: false, failure: .connection, reason: "refused", now: 10)
        #expect(again, "a failed probe asks for the next")
        #expect(r.state == .unreachable(sinceNanos: 10, reason: "refused"))
        #expect(!r.admits)
        let still = r.probeEnded(answered: false, failure: .connection, reason: "refused again", now: 20)
        #expect(still)
        #expect(r.state == .unreachable(sinceNanos: 10, reason: "refused"), "the outage keeps its start")
        let done = r.probeEnded(answered: true, reason: "", now: 30)
        #expect(!done)
        #expect(r.admits)
        #expect(!r.probing)
    }

    @Test func unansweredProbesCountOnlyInARow() {
        var r = Reachability(timeoutsToGiveUp: 2)
        _ = r.operationFailed()
        let one = r.probeEnded(answered: false, failure: .timeout, reason: "no answer", now: 5)
        #expect(one)
        #expect(r.state == .suspect, "one slow probe on a loaded machine proves nothing")
        #expect(r.admits)
        let two = r.probeEnded(answered: false, failure: .timeout, reason: "no answer again", now: 9)
        #expect(two)
        #expect(r.state == .unreachable(sinceNanos: 9, reason: "no answer again"))
        _ = r.probeEnded(answered: true, reason: "", now: 12)
        #expect(r.probeTimeoutsInARow == 0)
        // After an answer the count starts again.
        _ = r.operationFailed()
        _ = r.probeEnded(answered: false, failure: .timeout, reason: "no answer", now: 14)
        #expect(r.admits)
    }

    @Test func anAnswerWhileSuspectClearsItUnlessAProbeIsOut() {
        var r = Reachability()
        _ = r.operationFailed()
        r.answered()
        #expect(r.state == .suspect, "the running probe decides")
        _ = r.probeEnded(answered: true, reason: "", now: 1)
        r.answered()
        #expect(r.state == .reachable)
    }
}
