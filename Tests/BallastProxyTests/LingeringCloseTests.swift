import Testing
@testable import BallastProxy

/// The lingering close's bounds: it ends when the client falls quiet, after its total time, or
/// after its byte cap, whichever comes first.
@Suite struct LingeringCloseDecisionTests {
    let policy = LingeringClose.Policy(total: 10_000, quiet: 2_000, maxBytes: 1_000)

    @Test func readsAreDroppedUntilTheCap() {
        var linger = LingeringClose(now: 0, policy: policy)
        #expect(linger.received(600, now: 100) == .keepDraining)
        #expect(linger.received(400, now: 200) == .keepDraining)
        #expect(linger.received(1, now: 300) == .close)
        #expect(linger.dropped == 1_001)
    }

    @Test func theDeadlineMovesWithEachReadButNotPastTheTotal() {
        var linger = LingeringClose(now: 0, policy: policy)
        #expect(linger.deadline == 2_000)
        _ = linger.received(1, now: 1_500)
        #expect(linger.deadline == 3_500)
        _ = linger.received(1, now: 9_000)
        #expect(linger.deadline == 10_000)
        #expect(linger.received(1, now: 10_000) == .close)
    }

    @Test func theStandardPolicyIsBounded() {
        let standard = LingeringClose.Policy.standard
        #expect(standard.total <= 30_000_000_000 && standard.quiet <= standard.total && standard.maxBytes <= 64 << 20)
    }
}
