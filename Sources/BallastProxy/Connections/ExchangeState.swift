import NIOCore

/// The progress of one proxied request, from its head to the end of its response, and what each
/// event of either side means for it (pure; `ClientConnection` does the I/O; `ExchangeStateTests`).
///
/// ```
/// request:   body ──end──► complete
/// response:  none ──final head──► started(status) ──end──► complete
/// attempts:  pick a server ──failure──► ExchangeRecovery: retry | fresh retry | fall back | answer | cut
/// ```
/// The exchange is done when both the request and the response are complete. What the state
/// decides, the handler carries out: write a body slice or hold it, write the response head as
/// received or rewritten, retry, answer locally, cut, return or poison the server connection.
/// `ConnectionLifecycle` holds the connection's phase around it (idle, reading a head, awaiting a
/// response, streaming, lingering); `ExchangeRecovery` decides what a failure means.
struct ExchangeState: Equatable {
    enum Request: Equatable {
        /// Body bytes are still to come from the client.
        case body
        /// The whole request was read.
        case complete
    }

    enum Response: Equatable {
        case none
        /// The final head went (or is going) to the client; `status` is its code.
        case started
        case complete
    }

    /// How the route in force retries and pipelines (`RouteRuntime.policy`, made once per
    /// config; replaced when a canary request falls back to stable).
    struct Policy: Equatable, Sendable {
        var upstream: String
        /// `retries.attempts`.
        var attempts: Int
        /// `retries.on`'s statuses.
        var retryOn: Set<Int>
        /// `keepalive.pipeline_depth` of the upstream.
        var pipelineDepth: Int
    }

    private(set) var request: Request
    private(set) var response: Response = .none
    private(set) var status = 0
    /// The connection closes once this exchange ends.
    private(set) var closeAfter: Bool
    /// Request body bytes went to a server: a retry could send them twice.
    private(set) var bodySent = false
    /// Body bytes that arrived before a server connection was ready.
    private(set) var heldBody: [ByteBuffer] = []
    private(set) var heldBodyBytes = 0
    private(set) var policy: Policy
    private(set) var retries = 0
    /// Servers tried, by index (the first 64).
    private(set) var tried: UInt64 = 0
    private(set) var isRetry = false
    private(set) var staleRetryUsed = false
    /// Routed by the canary config of a staged rollout.
    private(set) var isCanary: Bool
    /// The method may be sent twice (GET, HEAD, PUT, DELETE, OPTIONS, TRACE).
    let idempotent: Bool
    /// Neither a body nor a side effect: may share a server connection with others.
    private let bodilessIdempotent: Bool
    /// The request asks to switch protocols and its route allows it: a 101 makes a tunnel.
    let upgrade: Bool

    init(policy: Policy, idempotent: Bool, hasBody: Bool, requestComplete: Bool, closeAfter: Bool, isCanary: Bool,
         upgrade: Bool = false) {
        self.policy = policy
        self.idempotent = idempotent
        self.upgrade = upgrade
        // An upgrade takes its server connection for itself: it never shares one.
        self.bodilessIdempotent = idempotent && !hasBody && !upgrade
        self.request = requestComplete ? .complete : .body
        self.closeAfter = closeAfter
        self.isCanary = isCanary
    }

    var requestComplete: Bool { request == .complete }
    var responseStarted: Bool { response != .none }
    var responseComplete: Bool { response == .complete }

    // MARK: The request side

    /// What to do with a slice of request body.
    enum BodyAction: Equatable {
        /// Write it to the server connection now.
        case write
        /// Keep it until a server connection is attached (`attached()` hands it back).
        case held
        /// A response is already under way without a server: nothing will read it.
        case drop
    }

    mutating func body(_ slice: ByteBuffer, serverAttached: Bool) -> BodyAction {
        if serverAttached {
            bodySent = true
            return .write
        }
        guard !responseStarted else { return .drop }
        heldBody.append(slice)
        heldBodyBytes += slice.readableBytes
        return .held
    }

    /// The client's request ended. True when the exchange is now done (its response ended first).
    mutating func requestEnded() -> Bool {
        request = .complete
        return responseComplete
    }

    // MARK: Servers and attempts

    /// A server was picked for this attempt.
    mutating func picked(server index: Int) {
        if index < 64 { tried |= 1 << UInt64(index) }
    }

    /// Whether this attempt may share a server connection with requests ahead of it.
    var pipelinable: Bool {
        policy.pipelineDepth > 1 && requestComplete && bodilessIdempotent && !isRetry && !staleRetryUsed
    }

    /// The server switched protocols (`TunnelState.switching` said `.tunnel`): the response has
    /// started with 101 and the connection ends with the tunnel.
    mutating func switchedProtocols() {
        response = .started
        status = 101
        closeAfter = true
    }

    /// A server connection was attached: the body that waited for it, to write after the head.
    mutating func attached() -> [ByteBuffer] {
        guard !heldBody.isEmpty else { return [] }
        bodySent = true
        let held = heldBody
        heldBody = []
        heldBodyBytes = 0
        return held
    }

    /// What `ExchangeRecovery` needs to know; the rest comes from the loop (the budget) and the
    /// stable config (whether it routes this request too).
    func facts(budgetAllows: Bool, stableRoutes: Bool) -> ExchangeRecovery.Facts {
        ExchangeRecovery.Facts(
            upstream: policy.upstream, responseStarted: responseStarted, bodySent: bodySent, requestComplete: requestComplete,
            idempotent: idempotent, isCanary: isCanary && stableRoutes, retries: retries, attempts: policy.attempts,
            budgetAllows: budgetAllows, staleRetryUsed: staleRetryUsed, retryOn: policy.retryOn)
    }

    /// The attempt failed: what to do, as `ExchangeRecovery` decides, with the attempt counted.
    mutating func failed(_ failure: ExchangeRecovery.Failure, budgetAllows: Bool, stableRoutes: Bool) -> ExchangeRecovery.Action {
        let action = ExchangeRecovery.decide(failure, facts(budgetAllows: budgetAllows, stableRoutes: stableRoutes))
        switch action {
        case .retry: retrying()
        case .retryOnFreshConnection: staleRetryUsed = true
        case .forward, .respond, .cut, .fallBackToStable: break
        }
        return action
    }

    /// One more attempt on another server (counts against the route's attempts).
    private mutating func retrying() {
        retries += 1
        isRetry = true
    }

    /// Whether a canary request may still be served by the stable config (no body byte reached
    /// a server of the canary).
    var mayFallBack: Bool { isCanary && !bodySent }

    /// The request is routed by the stable config from now on, its attempts counted afresh.
    mutating func fellBack(to policy: Policy) {
        self.policy = policy
        isCanary = false
        tried = 0
        retries = 0
        staleRetryUsed = false
    }

    // MARK: The response side

    /// How the final response head reaches the client.
    enum HeadAction: Equatable {
        /// Drop this response and try another server (a 5xx the route retries).
        case retry
        /// As received: nothing in it must change.
        case verbatim
        /// Rewritten: hop-by-hop fields dropped, `Connection: close` or `keep-alive` added.
        case rewrite(close: Bool, keepAlive: Bool)
    }

    /// What the final head of the server's response says about the server.
    enum Verdict: Equatable {
        /// 503 with Retry-After and the like: its peers share the reason, nothing is retried.
        case shedsLoad
        case failure
        case success
    }

    static func verdict(status: Int, shedsLoad: Bool) -> Verdict {
        if shedsLoad { return .shedsLoad }
        return status >= 500 ? .failure : .success
    }

    /// The server's final response head. `untilClose`: its body ends when the server closes;
    /// `needsRewrite`: it carries fields that must not reach the client as they are;
    /// `http10Client`: the client spoke HTTP/1.0 and keeps its connection only when told so.
    mutating func responseHead(status: Int, shedsLoad: Bool, untilClose: Bool, needsRewrite: Bool, http10Client: Bool,
                               budgetAllows: @autoclosure () -> Bool) -> HeadAction {
        if Self.verdict(status: status, shedsLoad: shedsLoad) == .failure,
           failed(.serverError(status: status), budgetAllows: budgetAllows(), stableRoutes: false) == .retry {
            return .retry
        }
        self.status = status
        response = .started
        if untilClose || !requestComplete { closeAfter = true }
        let keepAlive10 = http10Client && !closeAfter
        if !needsRewrite, !closeAfter, !keepAlive10 { return .verbatim }
        return .rewrite(close: closeAfter, keepAlive: keepAlive10)
    }

    /// The server's response ended. True when the server connection must not be reused: it
    /// answered before the whole body arrived, so it and the client stream are out of step (the
    /// client connection closes too). The exchange is done either way.
    mutating func responseEnded() -> Bool {
        response = .complete
        guard requestComplete else {
            closeAfter = true
            return true
        }
        return false
    }

    // MARK: Local answers

    /// What becomes of an answer the balancer itself wants to give.
    enum LocalAction: Equatable {
        /// Part of the server's response is out: the client sees a cut connection instead.
        case cut
        /// Answer; `close` when the connection ends with it.
        case respond(close: Bool)
    }

    func answerLocally(close: Bool) -> LocalAction {
        if responseStarted { return .cut }
        return .respond(close: close || closeAfter || !requestComplete)
    }
}
