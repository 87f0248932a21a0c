import BallastConfig
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// Everything one event loop owns: the runtime it serves, its connection pool, its metric
/// handles and its client connections (for the timeout sweep).
final class LoopContext {
    let index: Int
    let eventLoop: any EventLoop
    var runtime: ProxyRuntime
    /// Set while a staged rollout watches a new config on part of the traffic.
    var canary: Canary?
    /// What the requests of each side did since the canary started (only counted then).
    var rolloutStats = RolloutStats()
    let pool: ConnectionPool
    var rng = Xoshiro()
    private var counters: [CounterKey: Counter] = [:]
    var clients: [ObjectIdentifier: ClientConnection] = [:]
    /// The newest requests answered with a 5xx on this loop (the incident view's).
    var failedRequests = FailedRequestRing()
    /// Tunnels open on this loop, by route (`ballast status`).
    var openTunnels: [String: Int] = [:]
    /// Client connections whose request waits for its upstream's capacity (`CircuitBreaker`).
    var waiting = PendingQueue<ClientConnection>()
    private var servingWaiters = false
    /// Requests pipelined on this loop since it started, per upstream name.
    private var pipelinedTotals: [String: Int] = [:]
    /// What the last sweep counted, for the USE gauges (read by another thread once a second).
    let usage = NIOLockedValueBox(LoopUsage())

    init(index: Int, eventLoop: any EventLoop, runtime: ProxyRuntime) {
        self.index = index
        self.eventLoop = eventLoop
        self.runtime = runtime
        self.pool = ConnectionPool(eventLoop: eventLoop)
    }

    /// The monotonic clock as of the current event; `tick()` refreshes it once per read, so a
    /// request reads the clock once or twice instead of at every step.
    private(set) var now: Int64 = Int64(NIODeadline.now().uptimeNanoseconds)

    @inline(__always)
    @discardableResult
    func tick() -> Int64 {
        now = Int64(NIODeadline.now().uptimeNanoseconds)
        return now
    }

    /// Answers without a route (404, parse errors): per listener and status.
    struct CounterKey: Hashable {
        var listener: String
        var code: Int
    }

    /// The `ballast_requests_total` handle for this route and status, created once per loop.
    func requestCounter(listener: String, route: RouteRuntime?, code: Int) -> Counter {
        if let route {
            let cache = route.counters[index]
            if let counter = cache.value[code] { return counter }
            let counter = Counter(label: "ballast_requests_total", dimensions: [
                ("listener", listener), ("route", route.config.name), ("upstream", route.upstream.name), ("code", String(code)),
            ])
            cache.value[code] = counter
            return counter
        }
        let key = CounterKey(listener: listener, code: code)
        if let counter = counters[key] { return counter }
        let counter = Counter(label: "ballast_requests_total", dimensions: [
            ("listener", listener), ("route", ""), ("upstream", ""), ("code", String(code)),
        ])
        counters[key] = counter
        return counter
    }

    /// The route's `ballast_request_duration_seconds` handle, created at its first request on this loop.
    func durationTimer(_ route: RouteRuntime) -> Metrics.Timer {
        let cache = route.timers[index]
        if let timer = cache.value { return timer }
        let timer = Metrics.Timer(label: "ballast_request_duration_seconds",
                                  dimensions: [("listener", route.listenerName), ("route", route.config.name)],
                                  preferredDisplayUnit: .seconds)
        cache.value = timer
        return timer
    }

    func tunnelMetrics(_ route: RouteRuntime) -> TunnelMetrics {
        let cache = route.tunnelMetrics[index]
        if let metrics = cache.value { return metrics }
        let metrics = TunnelMetrics(route: route.config.name)
        cache.value = metrics
        return metrics
    }

    // MARK: Deferred flushes

    private var flushQueue: [any DeferredFlush] = []
    private var flushing: [any DeferredFlush] = []
    private var flushScheduled = false

    /// Flushes `target` once this loop has handled every ready event of the current tick.
    ///
    /// Like HAProxy, which sends after processing a batch of events: a flush wakes the peer
    /// (a server or the client), and on a busy machine the woken peer preempts the loop in the
    /// middle of its batch. Flushing at the end of the tick cut context switches and CPU per
    /// request (docs/performance.md).
    func flushSoon(_ target: any DeferredFlush) {
        guard !target.flushQueued else { return }
        target.flushQueued = true
        flushQueue.append(target)
        if !flushScheduled {
            flushScheduled = true
            eventLoop.assumeIsolated().execute { self.runFlushes() }
        }
    }

    private func runFlushes() {
        flushScheduled = false
        swap(&flushQueue, &flushing)
        for target in flushing {
            target.flushQueued = false
            target.flushNow()
        }
        flushing.removeAll(keepingCapacity: true)
    }

    func runtimeChanged(to runtime: ProxyRuntime) {
        self.runtime = runtime
        // Handles of routes that no longer exist would otherwise pile up across reloads.
        counters.removeAll()
    }

    /// Runs every 250 ms: enforces client timeouts and closes idle upstream connections.
    /// Tries the waiting requests again, oldest first: after a request or connection of this
    /// loop ended, and at each sweep (for what other loops freed, and queue deadlines).
    ///
    /// Once a request of an upstream is turned away again, the later ones of that upstream only
    /// have their deadlines checked: every request that ended used to retry the whole queue, so
    /// an upstream at its cap with 1,000 waiting cost 1,000 attempts per request served. (Not for
    /// consistent hashing, where each request may wait for a server of its own.)
    func serveWaiting() {
        guard !waiting.isEmpty, !servingWaiters else { return }
        servingWaiters = true
        defer { servingWaiters = false }
        var stillFull: Set<ObjectIdentifier> = []
        for client in waiting.takeAll() {
            guard let upstream = client.waitingUpstream else { continue }
            let key = ObjectIdentifier(upstream)
            if stillFull.contains(key) {
                client.retryWaiting(attempt: false)
                continue
            }
            client.retryWaiting()
            if client.waitingUpstream != nil, upstream.config.balance != .consistentHash { stillFull.insert(key) }
        }
    }

    func sweep() {
        let now = tick()
        var seen = LoopUsage()
        for client in clients.values {
            client.checkDeadline(now: now)
            seen.connections[client.listenerName, default: 0] += 1
        }
        pool.closeIdle(now: now)
        serveWaiting()
        for upstream in runtime.upstreams.values {
            seen.inFlight[upstream.name] = upstream.balancers[index].value.active.reduce(0, +)
            seen.idle[upstream.name] = upstream.servers.reduce(0) { $0 + pool.idleCount($1) }
            // Moved into a total of the loop's own, which a reload (a new runtime) does not reset.
            pipelinedTotals[upstream.name, default: 0] += upstream.pipelined[index].value
            upstream.pipelined[index].value = 0
            seen.pipelined[upstream.name] = pipelinedTotals[upstream.name]
            upstream.retryBudgets[index].value.advance()
        }
        if let canary {
            for upstream in canary.runtime.upstreams.values { upstream.retryBudgets[index].value.advance() }
        }
        usage.withLockedValue { $0 = seen }
    }
}

/// A connection whose writes can wait for the end of the loop tick.
protocol DeferredFlush: AnyObject {
    var flushQueued: Bool { get set }
    func flushNow()
}
