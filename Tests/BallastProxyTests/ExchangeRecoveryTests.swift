import Testing
@testable import BallastProxy

/// `ExchangeRecovery` without a socket: retries, fallbacks and answers for every failure.
@Suite struct ExchangeRecoveryTests {
    typealias Facts = ExchangeRecovery.Facts

    static func decide(_ failure: ExchangeRecovery.Failure, _ change: (inout Facts) -> Void = { _ in }) -> ExchangeRecovery.Action {
        var facts = Facts(upstream: "app", attempts: 2, retryOn: [502, 503, 504])
        change(&facts)
        return ExchangeRecovery.decide(failure, facts)
    }

    @Test func aConnectFailureIsRetriedWhateverTheRequestWhileAttemptsAndBudgetLast() {
        #expect(Self.decide(.connectFailed(timedOut: false)) == .retry)
        // Nothing reached the server: a POST with its body goes too.
        #expect(Self.decide(.connectFailed(timedOut: false)) { $0.idempotent = false; $0.bodySent = false } == .retry)
        #expect(Self.decide(.connectFailed(timedOut: true)) { $0.retries = 2 }
                == .respond(status: 504, error: "upstream_unreachable", message: "no server of upstream 'app' could be reached"))
        #expect(Self.decide(.connectFailed(timedOut: false)) { $0.budgetAllows = false }
                == .respond(status: 502, error: "upstream_unreachable", message: "no server of upstream 'app' could be reached"))
    }

    @Test func aCanaryThatCannotReachItsServersFallsBackToStable() {
        #expect(Self.decide(.connectFailed(timedOut: false)) { $0.isCanary = true; $0.attempts = 0 } == .fallBackToStable)
        // Not once body bytes went out: the stable server would see half a request.
        #expect(Self.decide(.connectFailed(timedOut: false)) { $0.isCanary = true; $0.attempts = 0; $0.bodySent = true }
                == .respond(status: 502, error: "upstream_unreachable", message: "no server of upstream 'app' could be reached"))
    }

    @Test func aStaleKeptAliveConnectionGetsOneFreeRetryOnAFreshOne() {
        let stale = ExchangeRecovery.Failure.connectionFailed(beforeResponse: true, reused: true)
        #expect(Self.decide(stale) { $0.attempts = 0 } == .retryOnFreshConnection)
        #expect(Self.decide(stale) { $0.attempts = 0; $0.staleRetryUsed = true }
                == .respond(status: 502, error: "bad_gateway", message: "the server failed to answer"))
        #expect(Self.decide(stale) { $0.staleRetryUsed = true } == .retry)
        // A first request on a new connection has no such excuse; it takes a normal retry.
        #expect(Self.decide(.connectionFailed(beforeResponse: true, reused: false)) { $0.attempts = 0 }
                == .respond(status: 502, error: "bad_gateway", message: "the server failed to answer"))
    }

    @Test func aFailedConnectionRetriesOnlyIdempotentRequestsWhoseBodyDidNotGo() {
        let closed = ExchangeRecovery.Failure.connectionFailed(beforeResponse: true, reused: false)
        #expect(Self.decide(closed) == .retry)
        #expect(Self.decide(closed) { $0.idempotent = false } == .respond(status: 502, error: "bad_gateway", message: "the server failed to answer"))
        #expect(Self.decide(closed) { $0.bodySent = true } == .respond(status: 502, error: "bad_gateway", message: "the server failed to answer"))
        // Broken mid-response (or malformed): the server may have acted on it.
        #expect(Self.decide(.connectionFailed(beforeResponse: false, reused: true))
                == .respond(status: 502, error: "bad_gateway", message: "the server failed to answer"))
    }

    @Test func onceResponseBytesAreOutTheOnlyAnswerIsACut() {
        #expect(Self.decide(.connectionFailed(beforeResponse: false, reused: false)) { $0.responseStarted = true } == .cut)
        #expect(Self.decide(.connectionFailed(beforeResponse: true, reused: true)) { $0.responseStarted = true } == .cut)
        #expect(Self.decide(.responseTimedOut) { $0.responseStarted = true } == .cut)
    }

    @Test func aTimeoutIsRetriedLikeA504OnlyWhenTheRouteSaysSo() {
        #expect(Self.decide(.responseTimedOut) == .retry)
        #expect(Self.decide(.responseTimedOut) { $0.retryOn = [502] }
                == .respond(status: 504, error: "upstream_timeout", message: "the server did not answer in time"))
        #expect(Self.decide(.responseTimedOut) { $0.idempotent = false }
                == .respond(status: 504, error: "upstream_timeout", message: "the server did not answer in time"))
        #expect(Self.decide(.responseTimedOut) { $0.retries = 2 }
                == .respond(status: 504, error: "upstream_timeout", message: "the server did not answer in time"))
    }

    @Test func aServerErrorIsRetriedWhenListedElseForwarded() {
        #expect(Self.decide(.serverError(status: 503)) == .retry)
        #expect(Self.decide(.serverError(status: 500)) == .forward)
        #expect(Self.decide(.serverError(status: 503)) { $0.requestComplete = false } == .forward)
        #expect(Self.decide(.serverError(status: 503)) { $0.bodySent = true } == .forward)
        #expect(Self.decide(.serverError(status: 503)) { $0.budgetAllows = false } == .forward)
    }
}
