/// What a proxied request does when its server fails it: retry (on another server, or on a
/// fresh connection to the same one), fall back to the stable config, answer the client, or cut
/// a response already under way. Pure; `ClientConnection` gathers the facts and acts on the
/// answer (`ExchangeRecoveryTests`).
///
/// The rules are HAProxy's and Envoy's: nothing is retried once response bytes reached the
/// client; a request whose body was (partly) sent is retried only when nothing reached the
/// server; a retry needs the route's attempts and the upstream's retry budget.
struct ExchangeRecovery {
    /// What the exchange had done when the failure came.
    struct Facts: Equatable {
        var upstream = ""
        /// Response bytes already went to the client.
        var responseStarted = false
        /// Request body bytes already went to the server.
        var bodySent = false
        /// The client sent its whole request.
        var requestComplete = true
        var idempotent = true
        /// Routed by the canary config of a staged rollout.
        var isCanary = false
        var retries = 0
        /// The route's `retries.attempts`.
        var attempts = 0
        /// The upstream's retry budget allows one more now.
        var budgetAllows = true
        /// The free retry after a stale kept-alive connection was used.
        var staleRetryUsed = false
        /// The route's `retries.on` names this status (504 for a response timeout).
        var retryOn: Set<Int> = []
    }

    enum Failure: Equatable {
        /// No connection could be opened (or it timed out).
        case connectFailed(timedOut: Bool)
        /// The connection closed, reset or broke HTTP. `beforeResponse`: no response byte came;
        /// `reused`: it had served a request before (a kept-alive close the server raced us on).
        case connectionFailed(beforeResponse: Bool, reused: Bool)
        /// No response within `timeouts.response`, the whole request sent.
        case responseTimedOut
        /// A final response head with a 5xx status (not one that sheds load).
        case serverError(status: Int)
    }

    enum Action: Equatable {
        /// On another server when one is left (counts against attempts and budget).
        case retry
        /// On a new connection to any server, free: the kept-alive connection was stale.
        case retryOnFreshConnection
        /// A canary request is served by the stable config instead.
        case fallBackToStable
        /// Part of the response is out: the client sees a cut connection.
        case cut
        /// The server's response goes to the client as it is.
        case forward
        /// Answer the client locally.
        case respond(status: Int, error: String, message: String)
    }

    static func decide(_ failure: Failure, _ facts: Facts) -> Action {
        let canRetry = facts.retries < facts.attempts && facts.budgetAllows
        switch failure {
        case .connectFailed(let timedOut):
            // Nothing reached the server, so any request may be retried, bodies included.
            if canRetry { return .retry }
            if facts.isCanary, !facts.bodySent { return .fallBackToStable }
            return .respond(status: timedOut ? 504 : 502, error: "upstream_unreachable",
                            message: "no server of upstream '\(facts.upstream)' could be reached")
        case .connectionFailed(let beforeResponse, let reused):
            if facts.responseStarted { return .cut }
            if beforeResponse, !facts.bodySent, facts.idempotent {
                // A pooled connection the server had already closed: one free retry on a new
                // connection (another pooled one may be as stale, and a broken pipeline sends
                // all its requests here at once).
                if reused, !facts.staleRetryUsed { return .retryOnFreshConnection }
                if canRetry { return .retry }
            }
            return .respond(status: 502, error: "bad_gateway", message: "the server failed to answer")
        case .responseTimedOut:
            if facts.responseStarted { return .cut }
            // A server that stopped answering (a frozen process) would have said 504: retried
            // like one, as HAProxy's `retry-on response-timeout` does.
            if mayRetry(after: 504, facts, canRetry: canRetry) { return .retry }
            return .respond(status: 504, error: "upstream_timeout", message: "the server did not answer in time")
        case .serverError(let status):
            return mayRetry(after: status, facts, canRetry: canRetry) ? .retry : .forward
        }
    }

    /// A server's status sends the request elsewhere when the route lists it, and the request is
    /// idempotent and whole with no body bytes sent.
    private static func mayRetry(after status: Int, _ facts: Facts, canRetry: Bool) -> Bool {
        facts.retryOn.contains(status) && facts.idempotent && !facts.bodySent && facts.requestComplete && canRetry
    }
}
