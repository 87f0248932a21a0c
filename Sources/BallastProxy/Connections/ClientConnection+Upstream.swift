import BallastConfig
import CoreMetrics
import Logging
import NIOCore
import NIOPosix
import Synchronization

extension ClientConnection {
    // MARK: Starting an exchange

    func startExchange(_ head: RequestHead) {
        let now = loop.now
        answersHTTP10 = head.version == .http10
        let method = head.method
        // During a staged rollout a share of new requests is routed by the canary config.
        var canaryListener: ListenerRuntime?
        if let canary = loop.canary, loop.rng.next() < canary.threshold { canaryListener = canary.runtime.listeners[listenerName] }
        let route: RouteRuntime, isCanary: Bool
        switch RequestAdmission.route(method: method, path: head.path, host: head.host, hasBody: head.hasBody,
                                      wantsClose: head.wantsClose, listener: listener, canary: canaryListener) {
        case .route(let found, let canary):
            (route, isCanary) = (found, canary)
        case .refused(let refusal):
            requests.recycle(head.fields)
            return refuse(refusal)
        }
        let upgrade: Bool
        switch RequestAdmission.upgrade(head.upgrade, route: route, hasBody: head.hasBody) {
        case .none: upgrade = false
        case .forward: upgrade = true
        case .refused(let refusal):
            requests.recycle(head.fields)
            return refuse(refusal)
        }
        let state = ExchangeState(policy: route.policy, idempotent: head.isIdempotent, hasBody: head.hasBody,
                                  requestComplete: !requests.inBody, closeAfter: head.wantsClose || draining, isCanary: isCanary,
                                  upgrade: upgrade)
        let exchange = Exchange(head: head, route: route, start: now, state: state)
        self.exchange = exchange
        if let refusal = RequestAdmission.rateLimit(route, client: peerIP, hasBody: head.hasBody, now: now) {
            return refuse(refusal)
        }
        if route.upstream.config.balance == .consistentHash, let key = route.upstream.config.hashOn {
            exchange.hashKey = head.hashKey(key, peerIP: peerIP)
        }
        retryBudget(for: exchange).value.requestStarted()
        selectServer(exchange, now: now)
        // Body bytes that arrived with the head go on now (or wait for the connection).
        if !exchange.state.requestComplete { processInput() }
    }

    func balancer(for exchange: Exchange) -> Balancer {
        exchange.route.upstream.balancers[loop.index].value
    }

    /// This loop's retry budget for the exchange's upstream (mutated through the box).
    func retryBudget(for exchange: Exchange) -> LoopLocal<RetryBudget> {
        exchange.route.upstream.retryBudgets[loop.index]
    }

    /// Picks a server and a connection to it: a kept-alive one from this loop's pool, or a new
    /// one (always, when `fresh`).
    func selectServer(_ exchange: Exchange, now: Int64, fresh: Bool = false) {
        let balancer = balancer(for: exchange)
        let upstream = exchange.route.upstream
        // Servers at their `max_requests_per_server` are left out like tried ones.
        let full = upstream.breaker.map { fullServers(upstream, $0) } ?? 0
        // A retry prefers servers not tried yet, but may go back to one when no other is left
        // (a reset on a one-server upstream is still worth a second try).
        let tried = exchange.state.tried
        let picked = balancer.pick(hashKey: exchange.hashKey, excluded: tried | full, now: now)
            ?? (tried != 0 ? balancer.pick(hashKey: exchange.hashKey, excluded: full, now: now) : nil)
        if let breaker = upstream.breaker {
            let atCap = picked == nil && full != 0 && balancer.pick(hashKey: exchange.hashKey, now: now) != nil
            let needsConnection = picked.map { fresh || loop.pool.idleCount($0) == 0 } ?? false
            let admission = breaker.admit(serverFree: !atCap, needsConnection: needsConnection, connections: upstream.connectionCount,
                                          pending: upstream.counters.pending.load(ordering: .relaxed), queued: exchange.waitingSince != nil)
            guard admit(exchange, admission, upstream: upstream, now: now) else { return }
        }
        guard let server = picked else {
            if fallBackToStable(exchange, now: now) { return }
            respondLocally(status: 503, error: "no_server", message: "upstream '\(exchange.route.upstream.name)' has no available server",
                           close: !exchange.state.requestComplete)
            return
        }
        exchange.state.picked(server: server.index)
        exchange.server = server
        exchange.attemptStart = now
        exchange.answeredBy = server
        balancer.requestStarted(server.index)
        if upstream.breaker != nil {
            server.state.requests.wrappingAdd(1, ordering: .relaxed)
            exchange.countedOn = server.state
        }
        // Bodiless idempotent requests to the same server in the same loop tick may share one
        // connection and one write (pipelining), when the upstream allows it; a retry goes
        // alone (it may have failed as part of a pipeline).
        let depth = exchange.state.policy.pipelineDepth
        let pipelinable = exchange.state.pipelinable
        if pipelinable, !fresh, let connection = loop.pool.joinable(server, depth: depth) {
            exchange.route.upstream.pipelined[loop.index].value += 1
            attach(connection, to: exchange)
            return
        }
        if !fresh, let connection = loop.pool.take(server) {
            attach(connection, to: exchange)
            if pipelinable { loop.pool.offer(connection) }
            return
        }
        loop.pool.connect(to: server, timeout: exchange.route.connectTimeout).assumeIsolated().whenComplete { result in
            self.loop.tick()
            guard self.exchange === exchange, exchange.server?.index == server.index, exchange.upstream == nil, !self.closing else {
                if case .success(let connection) = result { connection.close() }
                return
            }
            switch result {
            case .success(let connection):
                self.attach(connection, to: exchange)
                self.resumeReadingIfWanted()
            case .failure(let error):
                let timedOut: Bool
                if case .connectTimeout = error as? ChannelError { timedOut = true } else { timedOut = false }
                self.connectFailed(exchange, server: server, timedOut: timedOut)
            }
        }
    }

    private func attach(_ connection: UpstreamConnection, to exchange: Exchange) {
        exchange.upstream = connection
        connection.begin(owner: self, isHead: exchange.head.methodKind == .head)
        connection.write(renderRequestHead(exchange, allocator: context?.channel.allocator ?? ByteBufferAllocator()))
        for piece in exchange.state.attached() { connection.write(piece) }
        loop.flushSoon(connection)
        if connection.owner === self, let context, !context.channel.isWritable { connection.readsPaused = true }
        enter(.awaitingResponse, responseTimeout: Int64(exchange.route.responseTimeout.nanoseconds))
    }

    // MARK: Failures and retries

    private func connectFailed(_ exchange: Exchange, server: ServerTarget, timedOut: Bool) {
        let now = loop.now
        loop.serverMetrics(exchange.route.upstream, server).failed()
        attemptEnded(exchange, server: server)
        exchange.route.upstream.recordFailure(server, now: now)
        exchange.server = nil
        recover(exchange, failed(exchange, .connectFailed(timedOut: timedOut)), now: now)
    }

    /// Tells the exchange's state that its attempt failed; its answer is what to do.
    private func failed(_ exchange: Exchange, _ failure: ExchangeRecovery.Failure) -> ExchangeRecovery.Action {
        // A canary request falls back only when the stable config routes it too.
        let head = exchange.head
        let stableRoutes = exchange.state.isCanary && listener.route(method: head.method, path: head.path, host: head.host) != nil
        return exchange.state.failed(failure, budgetAllows: budgetAllowsRetry(exchange), stableRoutes: stableRoutes)
    }

    private func budgetAllowsRetry(_ exchange: Exchange) -> Bool {
        retryBudget(for: exchange).value.allowsRetry(percent: exchange.route.config.retries.budgetPercent)
    }

    /// Carries out what `ExchangeRecovery` decided for a failed exchange.
    private func recover(_ exchange: Exchange, _ action: ExchangeRecovery.Action, now: Int64) {
        switch action {
        case .retry:
            retry(exchange, now: now)
        case .retryOnFreshConnection:
            selectServer(exchange, now: now, fresh: true)
        case .fallBackToStable:
            if !fallBackToStable(exchange, now: now) {
                respondLocally(status: 502, error: "upstream_unreachable",
                               message: "no server of upstream '\(exchange.route.upstream.name)' could be reached",
                               close: !exchange.state.requestComplete)
            }
        case .cut:
            // Part of the response is out: the client must see the failure as a cut connection.
            finishExchange(exchange, code: exchange.state.status)
            closeNow()
        case .forward:
            break
        case .respond(let status, let error, let message):
            respondLocally(status: status, error: error, message: message, close: !exchange.state.requestComplete)
        }
    }

    /// A canary request that cannot reach any server of the new config is served by the stable
    /// config instead, so a broken change costs clients almost nothing while the watch decides.
    /// The failed attempt still counts against the canary.
    private func fallBackToStable(_ exchange: Exchange, now: Int64) -> Bool {
        guard exchange.state.mayFallBack,
              let route = listener.route(method: exchange.head.method, path: exchange.head.path, host: exchange.head.host)
        else { return false }
        loop.rolloutStats.canary.record(nanos: now - exchange.start, error: true)
        exchange.state.fellBack(to: route.policy)
        exchange.route = route
        if route.upstream.config.balance == .consistentHash, let key = route.upstream.config.hashOn {
            exchange.hashKey = exchange.head.hashKey(key, peerIP: peerIP)
        }
        selectServer(exchange, now: now)
        return true
    }

    /// Another attempt, which the state already counted.
    private func retry(_ exchange: Exchange, now: Int64) {
        retryBudget(for: exchange).value.retryStarted()
        selectServer(exchange, now: now)
    }

    /// Detaches the server side of `exchange` without a response (retry or failure).
    func release(_ exchange: Exchange, close: Bool) {
        if let server = exchange.server { attemptEnded(exchange, server: server) }
        if close { exchange.upstream?.close(by: self) }
        exchange.upstream = nil
        exchange.server = nil
        // A new server connection sets its own; a connect attempt has its connect timeout.
        enter(.handling)
    }

    func upstreamFailed(_ failure: UpstreamFailure, from connection: UpstreamConnection) {
        guard let exchange, exchange.upstream === connection, let server = exchange.server else { return }
        let now = loop.tick()
        exchange.route.upstream.recordFailure(server, now: now)
        loop.serverMetrics(exchange.route.upstream, server).failed()
        let reused = connection.exchanges > 1
        release(exchange, close: false)
        let failure = ExchangeRecovery.Failure.connectionFailed(beforeResponse: failure == .closedBeforeResponse, reused: reused)
        recover(exchange, failed(exchange, failure), now: now)
    }

    func responseTimedOut() {
        guard let exchange, let server = exchange.server else { return }
        if let upstream = exchange.upstream, upstream.isBusy, upstream.owner !== self {
            // Pipelined behind another client's response: that one times out first (and this
            // request is retried), or it ends and this one gets a whole timeout of its own.
            enter(.awaitingResponse, responseTimeout: Int64(exchange.route.responseTimeout.nanoseconds))
            return
        }
        if !exchange.state.requestComplete {
            // The client has not finished sending its body (a slow-body client): its fault, not
            // the server's. Counting it against the server would let a few slow clients get
            // healthy servers ejected.
            respondLocally(status: 408, error: "request_timeout", message: "the request body did not arrive in time", close: true)
            return
        }
        let now = loop.now
        exchange.route.upstream.recordFailure(server, now: now)
        loop.serverMetrics(exchange.route.upstream, server).failed()
        release(exchange, close: true)
        recover(exchange, failed(exchange, .responseTimedOut), now: now)
    }

    // MARK: Response from the server

    func upstreamInterimResponse(_ bytes: ByteBuffer) {
        guard let exchange, exchange.head.version == .http11, let context else { return }
        context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    }

    /// The server's final response head.
    func upstreamResponseHead(_ head: ResponseHead, from connection: UpstreamConnection) -> HeadDisposition {
        guard let exchange, exchange.upstream === connection, let server = exchange.server, let context else {
            connection.close()
            return .abandoned
        }
        let now = loop.tick()
        loop.serverMetrics(exchange.route.upstream, server).answered(status: head.status, nanos: now - exchange.attemptStart)
        switch TunnelState.switching(status: head.status, asked: exchange.state.upgrade) {
        case .none:
            break
        case .tunnel:
            exchange.route.upstream.recordSuccess(server, now: now)
            startTunnel(exchange, head: head, connection: connection)
            return .tunnel
        case .unasked:
            exchange.route.upstream.recordFailure(server, now: now)
            release(exchange, close: true)
            respondLocally(status: 502, error: "bad_gateway", message: "the server switched protocols without being asked",
                           close: true)
            return .abandoned
        }
        // From here the response streams; it must keep moving (`timeouts.stall`).
        enter(.streaming)
        switch ExchangeState.verdict(status: head.status, shedsLoad: head.shedsLoad) {
        case .shedsLoad:
            // Neither a failure nor a success of this server: its peers share the reason (a
            // database outage must not eject every replica), so nothing is retried either.
            break
        case .failure: exchange.route.upstream.recordFailure(server, now: now)
        case .success: exchange.route.upstream.recordSuccess(server, now: now)
        }
        switch exchange.state.responseHead(status: head.status, shedsLoad: head.shedsLoad, untilClose: head.framing == .untilClose,
                                           needsRewrite: head.needsRewrite, http10Client: answersHTTP10,
                                           budgetAllows: self.budgetAllowsRetry(exchange)) {
        case .retry:
            release(exchange, close: true)
            retry(exchange, now: now)
            return .abandoned
        case .verbatim where !head.fields.contains(where: { $0.kind == .xRequestID }):
            // The head as the server sent it, up to its blank line, then the request id and
            // the blank line: two writes of one writev, the head itself not copied.
            let length = head.bytes.readableBytes - 2
            guard length > 0, let through = head.bytes.getSlice(at: head.bytes.readerIndex, length: length) else { return .verbatim }
            var tail = context.channel.allocator.buffer(capacity: 64)
            writeRequestIDLine(exchange, into: &tail)
            tail.writeStaticString("\r\n")
            exchange.bytesOut &+= through.readableBytes + tail.readableBytes
            context.write(wrapOutboundOut(through), promise: nil)
            context.write(wrapOutboundOut(tail), promise: nil)
            needsFlush = true
            return .written
        case .verbatim:
            let rendered = renderResponseHead(head, close: false, requestID: exchange, allocator: context.channel.allocator)
            exchange.bytesOut &+= rendered.readableBytes
            context.write(wrapOutboundOut(rendered), promise: nil)
            needsFlush = true
            return .written
        case .rewrite(let close, let keepAlive):
            let rendered = renderResponseHead(head, close: close, keepAlive: keepAlive, requestID: exchange, allocator: context.channel.allocator)
            exchange.bytesOut &+= rendered.readableBytes
            context.write(wrapOutboundOut(rendered), promise: nil)
            needsFlush = true
            return .written
        }
    }

    func upstreamBody(_ slice: ByteBuffer) {
        guard let context, slice.readableBytes > 0 else { return }
        exchange?.bytesOut &+= slice.readableBytes
        responseProgressed()
        context.write(wrapOutboundOut(slice), promise: nil)
        needsFlush = true
    }

    /// A response made no progress for `timeouts.stall`: the client stopped reading it (its
    /// socket stays full), or the server stopped sending it. Both connections are closed, so
    /// neither a client that never reads nor a server that hangs mid-body holds two sockets
    /// for ever; a silent server (the client was ready for more) counts as its failure.
    func responseStalled() {
        guard let exchange else { return closeNow() }
        if let server = exchange.server, isClientWritable {
            exchange.route.upstream.recordFailure(server, now: loop.now)
        }
        release(exchange, close: true)
        finishExchange(exchange, code: exchange.state.status)
        closeNow()
    }

    /// Asks for a flush at the end of this loop tick (see `LoopContext.flushSoon`).
    func flushToClient() {
        if needsFlush { loop.flushSoon(self) }
    }

    func flushNow() {
        if needsFlush, let context {
            needsFlush = false
            context.flush()
        }
    }

    func upstreamResponseEnd(from connection: UpstreamConnection) {
        guard let exchange, exchange.upstream === connection else { return }
        loop.tick()
        // The server connection forgets its owner now, so its read-complete cannot flush for us.
        flushToClient()
        // The server answered before the whole body arrived: that connection and this client
        // stream are both out of step, so neither is reused.
        if exchange.state.responseEnded() { connection.poison() }
        completeExchange(exchange)
    }

    /// Both directions are done: return the server connection and go on with the next request.
    func completeExchange(_ exchange: Exchange) {
        if let connection = exchange.upstream {
            exchange.upstream = nil
            // Still answering pipelined requests of other clients: the last of them returns it.
            if connection.isBusy { return finishAndContinue(exchange) }
            let keepalive = exchange.route.upstream.config.keepalive
            let inFlight = exchange.server.map { balancer(for: exchange).active[$0.index] } ?? 0
            loop.pool.giveBack(connection, maxIdle: keepalive.maxIdlePerServer, inFlight: inFlight,
                               idleTimeoutNanos: keepalive.idleTimeout.milliseconds * 1_000_000, now: loop.now)
        }
        finishAndContinue(exchange)
    }

    private func finishAndContinue(_ exchange: Exchange) {
        finishExchange(exchange, code: exchange.state.status)
        if exchange.state.closeAfter {
            closeNow()
            return
        }
        enter(.idle)
        processInput()
        resumeReadingIfWanted()
    }

    /// Accounting common to every way an exchange ends.
    func finishExchange(_ exchange: Exchange, code: Int) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        if let server = exchange.server {
            attemptEnded(exchange, server: server)
            exchange.server = nil
        }
        leaveQueue(exchange, upstream: exchange.route.upstream)
        let elapsed = loop.now - exchange.start
        if loop.canary != nil {
            if exchange.state.isCanary {
                loop.rolloutStats.canary.record(nanos: elapsed, error: code >= 500)
            } else {
                loop.rolloutStats.stable.record(nanos: elapsed, error: code >= 500)
            }
        }
        loop.requestCounter(listener: listenerName, route: exchange.route, code: code).increment()
        loop.durationTimer(exchange.route).recordNanoseconds(elapsed)
        if let accessLog = listener.accessLog { writeAccessLog(accessLog, exchange, code: code, elapsed: elapsed) }
        if code >= 500 { rememberFailure(exchange, code: code, elapsed: elapsed) }
        if let tracing = loop.runtime.tracing, let trace = exchange.trace, trace.sampled { recordSpan(tracing, exchange, trace, code: code, elapsed: elapsed) }
        requests.recycle(exchange.head.fields)
        // What this exchange held (a request under way, a connection) may be what one waits for.
        if !loop.waiting.isEmpty { loop.serveWaiting() }
    }
}
