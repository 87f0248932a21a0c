import NIOCore
import Testing
@testable import BallastProxy

/// `ExchangeState` without sockets: bodies held or sent, heads verbatim or rewritten, retries,
/// fallbacks, early answers and where an exchange ends.
@Suite struct ExchangeStateTests {
    static let policy = ExchangeState.Policy(upstream: "auth", attempts: 2, retryOn: [503], pipelineDepth: 4)

    static func get(complete: Bool = true, close: Bool = false, canary: Bool = false) -> ExchangeState {
        ExchangeState(policy: policy, idempotent: true, hasBody: false, requestComplete: complete, closeAfter: close, isCanary: canary)
    }

    static func post(complete: Bool = false, canary: Bool = false) -> ExchangeState {
        ExchangeState(policy: policy, idempotent: false, hasBody: true, requestComplete: complete, closeAfter: false, isCanary: canary)
    }

    static func head(_ state: inout ExchangeState, _ status: Int = 200, untilClose: Bool = false, rewrite: Bool = false,
                     http10: Bool = false, budget: Bool = true) -> ExchangeState.HeadAction {
        state.responseHead(status: status, shedsLoad: false, untilClose: untilClose, needsRewrite: rewrite, http10Client: http10,
                           budgetAllows: budget)
    }

    @Test func aBodyWaitsForItsServerConnectionAndLeavesWithIt() {
        var state = Self.post()
        let a = ByteBuffer(string: "abc"), b = ByteBuffer(string: "defg")
        let r1 = state.body(a, serverAttached: false)
        #expect(r1 == .held)
        let r2 = state.body(b, serverAttached: false)
        #expect(r2 == .held)
        #expect(state.heldBodyBytes == 7 && !state.bodySent)
        let r3 = state.attached()
        #expect(r3 == [a, b], "held slices leave in their order")
        #expect(state.bodySent && state.heldBodyBytes == 0 && state.heldBody.isEmpty)
        let r4 = state.attached()
        #expect(r4.isEmpty, "nothing is handed back twice")
        let r5 = state.body(ByteBuffer(string: "h"), serverAttached: true)
        #expect(r5 == .write)
    }

    @Test func aBodyArrivingAfterALocalResponseStartedIsDropped() {
        var state = Self.post()
        _ = Self.head(&state, 413)
        let r6 = state.body(ByteBuffer(string: "late"), serverAttached: false)
        #expect(r6 == .drop)
        #expect(state.heldBodyBytes == 0)
    }

    @Test func anAttachedConnectionWithNothingHeldSendsNothingAndMarksNothing() {
        var state = Self.post()
        let r7 = state.attached()
        #expect(r7.isEmpty && !state.bodySent)
    }

    @Test func theExchangeEndsWhenBothSidesHaveEndedInEitherOrder() {
        var state = Self.post()
        let r8 = state.requestEnded()
        #expect(!r8)
        let r9 = Self.head(&state)
        #expect(r9 == .verbatim)
        let r10 = state.responseEnded()
        #expect(!r10, "a whole request keeps the server connection reusable")
        #expect(state.responseComplete && !state.closeAfter)

        var early = Self.post()
        let r11 = Self.head(&early)
        #expect(r11 == .rewrite(close: true, keepAlive: false), "an answer before the body ends closes")
        let r12 = early.responseEnded()
        #expect(r12, "the server connection is out of step: poisoned")
        #expect(early.closeAfter)
        let r13 = early.requestEnded()
        #expect(r13, "the response ended first: the request's end completes the exchange")
    }

    @Test func theHeadIsForwardedAsReceivedOnlyWhenNothingInItMustChange() {
        var plain = Self.get()
        let r14 = Self.head(&plain)
        #expect(r14 == .verbatim && plain.status == 200 && plain.responseStarted)
        var hopByHop = Self.get()
        let r15 = Self.head(&hopByHop, rewrite: true)
        #expect(r15 == .rewrite(close: false, keepAlive: false))
        var closing = Self.get(close: true)
        let r16 = Self.head(&closing)
        #expect(r16 == .rewrite(close: true, keepAlive: false))
        var untilClose = Self.get()
        let r17 = Self.head(&untilClose, untilClose: true)
        #expect(r17 == .rewrite(close: true, keepAlive: false) && untilClose.closeAfter)
        var http10 = Self.get()
        let r18 = Self.head(&http10, http10: true)
        #expect(r18 == .rewrite(close: false, keepAlive: true))
        var http10Closing = Self.get(close: true)
        let r19 = Self.head(&http10Closing, http10: true)
        #expect(r19 == .rewrite(close: true, keepAlive: false))
    }

    @Test func aListedServerErrorIsRetriedWhileAttemptsAndBudgetLast() {
        var state = Self.get()
        let r20 = Self.head(&state, 503)
        #expect(r20 == .retry)
        #expect(state.retries == 1 && state.isRetry && !state.responseStarted, "a retried response never started")
        let r21 = Self.head(&state, 503)
        #expect(r21 == .retry)
        let r22 = Self.head(&state, 503)
        #expect(r22 == .verbatim)
        #expect(state.retries == 2 && state.status == 503 && state.responseStarted, "attempts spent: the 503 goes out")

        var noBudget = Self.get()
        let r23 = Self.head(&noBudget, 503, budget: false)
        #expect(r23 == .verbatim && noBudget.retries == 0)
        var unlisted = Self.get()
        let r24 = Self.head(&unlisted, 500)
        #expect(r24 == .verbatim && unlisted.retries == 0)
        var withBody = Self.post(complete: true)
        _ = withBody.body(ByteBuffer(string: "x"), serverAttached: true)
        let r25 = Self.head(&withBody, 503)
        #expect(r25 == .verbatim, "a request whose body went out is not sent twice")
    }

    @Test func aServerThatShedsLoadIsNeitherRetriedNorCountedAgainstIt() {
        var state = Self.get()
        #expect(state.responseHead(status: 503, shedsLoad: true, untilClose: false, needsRewrite: false, http10Client: false,
                                   budgetAllows: true) == .verbatim)
        #expect(state.retries == 0)
        #expect(ExchangeState.verdict(status: 503, shedsLoad: true) == .shedsLoad)
        #expect(ExchangeState.verdict(status: 502, shedsLoad: false) == .failure)
        #expect(ExchangeState.verdict(status: 404, shedsLoad: false) == .success)
    }

    @Test func failuresCountTheirAttemptsAsRecoveryDecides() {
        var state = Self.get()
        let r26 = state.failed(.connectionFailed(beforeResponse: true, reused: true), budgetAllows: true, stableRoutes: false)
        #expect(r26
            == .retryOnFreshConnection)
        #expect(state.staleRetryUsed && state.retries == 0 && !state.pipelinable, "the free retry goes alone")
        let r27 = state.failed(.connectionFailed(beforeResponse: true, reused: true), budgetAllows: true, stableRoutes: false)
        #expect(r27 == .retry)
        let r28 = state.failed(.connectFailed(timedOut: false), budgetAllows: true, stableRoutes: false)
        #expect(r28 == .retry)
        #expect(state.retries == 2)
        let r29 = state.failed(.connectFailed(timedOut: true), budgetAllows: true, stableRoutes: false)
        #expect(r29
            == .respond(status: 504, error: "upstream_unreachable", message: "no server of upstream 'auth' could be reached"))
        #expect(state.retries == 2, "an answer is not an attempt")
    }

    @Test func aCanaryFallsBackOnlyWhileNoBodyReachedItsServerAndTheStableConfigRoutesIt() {
        var state = Self.get(canary: true)
        let noRetries = ExchangeState.Policy(upstream: "new", attempts: 0, retryOn: [], pipelineDepth: 1)
        state.fellBack(to: noRetries)
        #expect(!state.isCanary && state.policy == noRetries)

        var canary = ExchangeState(policy: noRetries, idempotent: true, hasBody: false, requestComplete: true, closeAfter: false, isCanary: true)
        let r30 = canary.failed(.connectFailed(timedOut: false), budgetAllows: true, stableRoutes: true)
        #expect(r30 == .fallBackToStable)
        let r31 = canary.failed(.connectFailed(timedOut: false), budgetAllows: true, stableRoutes: false)
        #expect(r31
            == .respond(status: 502, error: "upstream_unreachable", message: "no server of upstream 'new' could be reached"))
        canary.picked(server: 3)
        canary.fellBack(to: Self.policy)
        #expect(canary.tried == 0 && canary.retries == 0 && !canary.isCanary, "the stable config's attempts start afresh")

        var sent = Self.post(canary: true)
        _ = sent.body(ByteBuffer(string: "x"), serverAttached: true)
        #expect(!sent.mayFallBack)
        #expect(Self.post(canary: true).mayFallBack && !Self.post().mayFallBack)
    }

    @Test func triedServersAreRememberedByIndex() {
        var state = Self.get()
        state.picked(server: 0)
        state.picked(server: 5)
        state.picked(server: 64)  // past the mask: not remembered, never excluded
        #expect(state.tried == 0b100001)
    }

    @Test func onlyAWholeBodilessIdempotentFirstAttemptIsPipelined() {
        #expect(Self.get().pipelinable)
        #expect(!Self.get(complete: false).pipelinable)
        #expect(!Self.post(complete: true).pipelinable)
        let post = ExchangeState(policy: Self.policy, idempotent: false, hasBody: false, requestComplete: true, closeAfter: false, isCanary: false)
        #expect(!post.pipelinable, "a bodiless POST is not idempotent")
        let depthOne = ExchangeState(policy: .init(upstream: "a", attempts: 0, retryOn: [], pipelineDepth: 1), idempotent: true,
                                     hasBody: false, requestComplete: true, closeAfter: false, isCanary: false)
        #expect(!depthOne.pipelinable)
        var retried = Self.get()
        _ = retried.failed(.connectFailed(timedOut: false), budgetAllows: true, stableRoutes: false)
        #expect(!retried.pipelinable, "a retry may have failed as part of a pipeline")
    }

    @Test func anEarlyAnswerClosesWhenTheRequestIsUnreadAndCutsAStartedResponse() {
        #expect(Self.get().answerLocally(close: false) == .respond(close: false))
        #expect(Self.get().answerLocally(close: true) == .respond(close: true))
        #expect(Self.get(close: true).answerLocally(close: false) == .respond(close: true), "the client asked to close")
        #expect(Self.post().answerLocally(close: false) == .respond(close: true), "an unread body cannot be skipped")
        var started = Self.get()
        _ = Self.head(&started, 200)
        #expect(started.answerLocally(close: false) == .cut)
    }
}
