import Testing
@testable import BallastProxy

@Suite struct RetryBudgetUnitTests {
    @Test func aQuietUpstreamGetsTheFloor() {
        var budget = RetryBudget()
        budget.requestStarted()
        #expect(spendAll(&budget, percent: 20) == RetryBudget.floor)
    }

    @Test func aBudgetOfZeroAllowsNone() {
        var budget = RetryBudget()
        for _ in 0..<1000 { budget.requestStarted() }
        #expect(!budget.allowsRetry(percent: 0))
        #expect(budget.allowsRetry(percent: 1))
    }

    @Test func aBusyUpstreamGetsItsPercentOfTheWindow() {
        var budget = RetryBudget()
        for _ in 0..<1000 { budget.requestStarted() }
        #expect(spendAll(&budget, percent: 20) == 200)
        // Another 100 requests earn 20 more.
        for _ in 0..<100 { budget.requestStarted() }
        #expect(spendAll(&budget, percent: 20) == 20)
    }

    @Test func spentRetriesLeaveTheWindowAfterTenSeconds() {
        var budget = RetryBudget()
        for _ in 0..<100 { budget.requestStarted() }
        #expect(spendAll(&budget, percent: 50) == 50)
        for _ in 0..<(RetryBudget.slots - 1) { budget.advance() }
        // 9.75 s later both are still counted: nothing new is allowed.
        #expect(!budget.allowsRetry(percent: 50))
        budget.advance()
        #expect(budget.requestsInWindow == 0)
        #expect(budget.retriesInWindow == 0)
        #expect(budget.allowsRetry(percent: 50))
    }

    @Test func retriesSpreadOverTheWindowAreCountedTogether() {
        var budget = RetryBudget()
        // 10 requests and the floor's worth of retries every 250 ms for 2 s.
        for _ in 0..<8 {
            for _ in 0..<10 { budget.requestStarted() }
            if budget.allowsRetry(percent: 10) { budget.retryStarted() }
            budget.advance()
        }
        #expect(budget.requestsInWindow == 80)
        #expect(budget.retriesInWindow == 8)
        // 80 requests at 10% allow 8; the floor of 10 allows two more.
        #expect(budget.allowsRetry(percent: 10))
        budget.retryStarted()
        budget.retryStarted()
        #expect(!budget.allowsRetry(percent: 10))
    }

    /// Starts retries while the budget allows them (at most 10,000); returns how many.
    private func spendAll(_ budget: inout RetryBudget, percent: Double) -> Int {
        var spent = 0
        while budget.allowsRetry(percent: percent) && spent < 10_000 {
            budget.retryStarted()
            spent += 1
        }
        return spent
    }
}
