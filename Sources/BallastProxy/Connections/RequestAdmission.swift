import BallastConfig

/// Whether a parsed request goes on to a server, and by which route, or what the balancer
/// answers in its place (`ClientConnection` and the request fuzz target's `RequestStream` both
/// decide through it; `RequestAdmissionTests`).
///
/// Pure apart from the rate limiter's buckets: the canary roll is the caller's (a random draw
/// per request), so the same inputs give the same answer.
enum RequestAdmission {
    /// An answer the balancer gives itself.
    struct Refusal: Equatable {
        var status: Int
        var error: String
        var message: String
        /// The connection ends with the answer (its request's body, if any, is not read).
        var close: Bool
        var retryAfter: Int?
    }

    enum Routing {
        /// `canary`: routed by the canary config of a staged rollout.
        case route(RouteRuntime, canary: Bool)
        /// No route matches: 404.
        case refused(Refusal)
    }

    /// The route of `head` on `listener`, or on `canary` (the same listener in the canary config)
    /// when the caller's roll sent this request there.
    static func route(method: String, path: String, host: String, hasBody: Bool, wantsClose: Bool,
                      listener: ListenerRuntime, canary: ListenerRuntime?) -> Routing {
        // A canary request is routed by the canary config alone, as the stable one would not see it.
        if let route = (canary ?? listener).route(method: method, path: path, host: host) {
            return .route(route, canary: canary != nil)
        }
        // A body not read cannot be skipped safely; a client that asked to close gets its close.
        return .refused(Refusal(status: 404, error: "no_route", message: "no route matches \(method) \(path)",
                                close: hasBody || wantsClose))
    }

    /// What becomes of a request's `Upgrade` on `route`.
    enum Upgrade: Equatable {
        /// No upgrade asked, or one the route does not list: an ordinary request (the
        /// `Upgrade` header is dropped as hop-by-hop, as RFC 9110 §7.8 lets a server ignore it).
        case none
        /// Forwarded with its `Upgrade`; a 101 makes the connection a tunnel.
        case forward
        case refused(Refusal)
    }

    /// `upgrade` is the protocol the request asks for (`RequestHead.upgrade`).
    static func upgrade(_ upgrade: String?, route: RouteRuntime, hasBody: Bool) -> Upgrade {
        guard let upgrade else { return .none }
        let allowed = route.config.upgrades
        if allowed.isEmpty {
            return .refused(Refusal(status: 400, error: "upgrade_refused",
                                    message: "route '\(route.config.name)' does not allow protocol upgrades", close: true))
        }
        guard allowed.contains(upgrade) else { return .none }
        // The tunnel starts right after the head: a body would be neither request nor tunnel.
        if hasBody {
            return .refused(Refusal(status: 400, error: "bad_request", message: "an upgrade request cannot have a body", close: true))
        }
        return .forward
    }

    /// 429 when the route's per-client rate limit has no token for `client` at `now`.
    static func rateLimit(_ route: RouteRuntime, client: String, hasBody: Bool, now: Int64) -> Refusal? {
        guard let limiter = route.rateLimiter, let wait = limiter.take(client: client, now: now) else { return nil }
        return Refusal(status: 429, error: "rate_limited", message: "too many requests from this client",
                       close: hasBody, retryAfter: max(1, Int(wait.rounded(.up))))
    }
}
