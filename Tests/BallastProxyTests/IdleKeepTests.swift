import Testing
@testable import BallastProxy

/// `IdleKeep`: a burst above `max_idle_per_server` keeps its connections while it lasts and a
/// period after; then the surplus is closed, down to the cap.
@Suite struct IdleKeepTests {
    static let second: Int64 = 1_000_000_000

    @Test func belowTheCapEveryConnectionIsKeptAndNoneMore() {
        var keep = IdleKeep(now: 0)
        let r1 = keep.keepsReturned(idle: 3, inFlight: 1, maxIdle: 4)
        #expect(r1)
        let r2 = keep.keepsReturned(idle: 4, inFlight: 1, maxIdle: 4)
        #expect(!r2)
        let r3 = keep.sweep(now: Self.second, idle: 4, maxIdle: 4)
        #expect(r3 == 0)
    }

    @Test func aBurstAboveTheCapKeepsWhatItUsesInsteadOfChurning() {
        var keep = IdleKeep(now: 0)
        // 500 requests in flight to a server whose cap is 64: each finished connection is kept
        // for the requests still coming.
        for idle in 0..<499 {
            let r4 = keep.keepsReturned(idle: idle, inFlight: 500 - idle, maxIdle: 64)
            #expect(r4)
        }
        #expect(keep.peak == 500 && keep.limit(maxIdle: 64) == 500)
        let r5 = keep.keepsReturned(idle: 500, inFlight: 1, maxIdle: 64)
        #expect(!r5, "never more idle than were in use at once")
        let r6 = keep.sweep(now: Self.second, idle: 499, maxIdle: 64)
        #expect(r6 == 0, "within the period nothing is closed")
    }

    @Test func aPeriodAfterTheBurstTheSurplusIsClosedDownToTheCap() {
        var keep = IdleKeep(now: 0)
        _ = keep.keepsReturned(idle: 0, inFlight: 300, maxIdle: 64)
        // The period ends: the burst is the last period's need and is still kept.
        let r7 = keep.sweep(now: IdleKeep.period, idle: 300, maxIdle: 64)
        #expect(r7 == 0)
        #expect(keep.lastPeak == 300 && keep.peak == 0)
        // A quiet period later, only the cap remains.
        let r8 = keep.sweep(now: 2 * IdleKeep.period, idle: 300, maxIdle: 64)
        #expect(r8 == 236)
        #expect(keep.limit(maxIdle: 64) == 64)
    }

    @Test func aLongSilenceForgetsTheBurstAtOnce() {
        var keep = IdleKeep(now: 0)
        _ = keep.keepsReturned(idle: 0, inFlight: 300, maxIdle: 8)
        let r9 = keep.sweep(now: 10 * IdleKeep.period, idle: 300, maxIdle: 8)
        #expect(r9 == 292)
    }

    @Test func aCapOfZeroKeepsNothingWhateverTheLoad() {
        var keep = IdleKeep(now: 0)
        let r10 = keep.keepsReturned(idle: 0, inFlight: 1_000, maxIdle: 0)
        #expect(!r10)
        let r11 = keep.sweep(now: 1, idle: 2, maxIdle: 0)
        #expect(r11 == 2)
    }
}
