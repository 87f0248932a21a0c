import Synchronization

/// Envoy's circuit breakers on the client side of an exchange: servers at their request cap are
/// left out, a request beyond a cap waits in its loop's queue or gets 503 (`CircuitBreaker`
/// decides; this carries it out).
extension ClientConnection {
    /// The servers of `upstream` at their request cap, as a mask of indexes.
    func fullServers(_ upstream: UpstreamRuntime, _ breaker: CircuitBreaker) -> UInt64 {
        guard breaker.maxRequestsPerServer != nil else { return 0 }
        var full: UInt64 = 0
        for server in upstream.servers where server.index < 64 {
            if !breaker.serverHasRoom(requests: server.state.requests.load(ordering: .relaxed)) { full |= 1 << UInt64(server.index) }
        }
        return full
    }

    /// Carries out the breaker's answer; true when the request goes on now.
    func admit(_ exchange: Exchange, _ admission: CircuitBreaker.Admission, upstream: UpstreamRuntime, now: Int64) -> Bool {
        switch admission {
        case .go:
            leaveQueue(exchange, upstream: upstream)
            return true
        case .wait(let limit):
            if exchange.waitingSince == nil {
                exchange.waitingSince = now
                upstream.counters.pending.wrappingAdd(1, ordering: .relaxed)
                upstream.overflowed(limit, now: now)
            }
            loop.waiting.append(self)
            return false
        case .refuse(let limit):
            if exchange.waitingSince == nil { upstream.overflowed(limit, now: now) }
            refuseOverloaded(exchange, upstream: upstream, because: "is at its \(limit.rawValue): try again shortly")
            return false
        }
    }

    /// 503 for a request the breaker turns away (queue full, or its wait over).
    private func refuseOverloaded(_ exchange: Exchange, upstream: UpstreamRuntime, because reason: String) {
        leaveQueue(exchange, upstream: upstream)
        respondLocally(status: 503, error: "upstream_overloaded", message: "upstream '\(upstream.name)' \(reason)",
                       close: !exchange.state.requestComplete, retryAfter: 1)
    }

    func leaveQueue(_ exchange: Exchange, upstream: UpstreamRuntime) {
        guard exchange.waitingSince != nil else { return }
        exchange.waitingSince = nil
        upstream.counters.pending.wrappingSubtract(1, ordering: .relaxed)
    }

    /// The upstream this connection's request waits for, when it waits.
    var waitingUpstream: UpstreamRuntime? {
        guard let exchange, exchange.waitingSince != nil, !closing else { return nil }
        return exchange.route.upstream
    }

    /// The loop tries this connection's waiting request again (`LoopContext.serveWaiting`).
    /// `attempt: false` only ends a wait that is over and otherwise keeps the request's place:
    /// a request of an upstream that just turned one away would be turned away too.
    func retryWaiting(attempt: Bool = true) {
        guard let exchange, let since = exchange.waitingSince, !closing else { return }
        let now = loop.tick()
        let upstream = exchange.route.upstream
        if let breaker = upstream.breaker, breaker.expired(waitingSince: since, now: now) {
            refuseOverloaded(exchange, upstream: upstream, because: "had no capacity within its queue_timeout")
            return
        }
        guard attempt else {
            loop.waiting.append(self)
            return
        }
        selectServer(exchange, now: now)
    }

    /// The attempt on `server` ends: the balancer and the breaker stop counting it.
    func attemptEnded(_ exchange: Exchange, server: ServerTarget) {
        balancer(for: exchange).requestFinished(server.index)
        if let counted = exchange.countedOn {
            counted.requests.wrappingSubtract(1, ordering: .relaxed)
            exchange.countedOn = nil
        }
    }
}
