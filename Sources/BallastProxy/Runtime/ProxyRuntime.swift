import Foundation
import BallastConfig
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Something the data plane noticed that the control plane records (timeline, alerts).
package enum ProxyEvent: Sendable, Equatable {
    case serverHealth(upstream: String, server: String, healthy: Bool, reason: String)
    case serverEjected(upstream: String, server: String, seconds: Double)
    /// Requests went beyond an upstream's `limits`: `count` since the last such event.
    case upstreamOverflow(upstream: String, limit: String, count: Int)
    /// A listener's certificate was loaded from its files: at start, or a renewal at a reload.
    case certificateLoaded(listener: String, subject: String, notAfter: Date, renewed: Bool)
}

/// A config compiled for the data plane: immutable but for the atomics of server state and
/// the per-loop balancers. Requests keep the runtime they started on, so a reload never
/// changes a request mid-flight.
package final class ProxyRuntime: Sendable {
    package let config: Config
    package let version: Int
    let listeners: [String: ListenerRuntime]
    package let upstreams: [String: UpstreamRuntime]
    /// `tracing:` with somewhere to send spans; nil when off.
    let tracing: HopTracing?

    init(config: Config, version: Int, listeners: [String: ListenerRuntime], upstreams: [String: UpstreamRuntime],
         tracing: HopTracing? = nil) {
        self.config = config
        self.version = version
        self.listeners = listeners
        self.upstreams = upstreams
        self.tracing = tracing
    }
}

/// Routes of one listener, in evaluation order (first match wins).
final class ListenerRuntime: Sendable {
    let config: Listener
    let routes: [RouteRuntime]
    /// The routes compiled for lookup: the cost follows the path's length, not the route count.
    let table: RouteTable
    let trusted: TrustedPeers
    /// `tls.client_ca` is set: upstreams get the verified subject in `X-Client-Cert-Subject`.
    let requiresClientCertificate: Bool
    /// Nil without `access_log`.
    let accessLog: AccessLogWriter?

    init(config: Listener, routes: [RouteRuntime], accessLog: AccessLogWriter? = nil) {
        self.config = config
        self.accessLog = accessLog
        self.requiresClientCertificate = config.tls?.clientCA != nil
        self.routes = routes
        self.table = RouteTable(routes.map(\.config.match))
        self.trusted = TrustedPeers(config.trustedProxies)
    }

    /// The first route, in config order, whose match the request meets.
    func route(method: String, path: String, host: String) -> RouteRuntime? {
        table.first(method: method, path: path, host: host).map { routes[$0] }
    }
}

final class RouteRuntime: Sendable {
    let config: Route
    let listenerName: String
    let upstream: UpstreamRuntime
    let connectTimeout: TimeAmount
    let responseTimeout: TimeAmount
    /// How an exchange on this route retries and pipelines (`ExchangeState.Policy`).
    let policy: ExchangeState.Policy
    let rateLimiter: RateLimiter?
    /// `ballast_request_duration_seconds` of this route, one per event loop, created at the
    /// route's first request: a route that never served one exports no histogram (at 10,000
    /// routes their empty buckets were 140,000 lines the alert engine read every second).
    let timers: [LoopLocal<Metrics.Timer?>]
    /// This route's tunnel metrics, one per event loop, made at its first tunnel there.
    let tunnelMetrics: [LoopLocal<TunnelMetrics?>]
    /// `ballast_requests_total` handles by status code, one cache per event loop.
    let counters: [LoopLocal<[Int: Counter]>]

    init(config: Route, listenerName: String, upstream: UpstreamRuntime, loopCount: Int) {
        counters = (0..<max(1, loopCount)).map { _ in LoopLocal([:]) }
        timers = (0..<max(1, loopCount)).map { _ in LoopLocal(nil) }
        tunnelMetrics = (0..<max(1, loopCount)).map { _ in LoopLocal(nil) }
        self.config = config
        self.listenerName = listenerName
        self.upstream = upstream
        connectTimeout = .milliseconds(config.timeouts.connect.milliseconds)
        responseTimeout = .milliseconds(config.timeouts.response.milliseconds)
        // Statuses retried for idempotent requests; connect failures are always retryable.
        let retryStatuses = Set(config.retries.on.compactMap { if case .status(let code) = $0 { code } else { nil } })
        policy = ExchangeState.Policy(upstream: upstream.name, attempts: config.retries.attempts, retryOn: retryStatuses,
                                      pipelineDepth: upstream.config.keepalive.pipelineDepth)
        rateLimiter = config.rateLimit.map(RateLimiter.init)
    }

    /// Whether the request meets this route's match, on its own: what `RouteTable` answers for
    /// a whole table, route by route (`RouteTableTests` compare the two). Paths are compared as
    /// bytes, as they arrived; the host without its port and in any case.
    func matches(method: String, path: String, host: String) -> Bool {
        let m = config.match
        if let wanted = m.host, RouteTable.normalized(host) != wanted { return false }
        if let exact = m.path, !path.utf8.elementsEqual(exact.utf8) { return false }
        if let prefix = m.pathPrefix, !path.utf8.starts(with: prefix.utf8) { return false }
        if let methods = m.methods, !methods.contains(method) { return false }
        return true
    }
}

/// One upstream of a runtime: its servers, their shared detector, and a balancer per loop.
package final class UpstreamRuntime: Sendable {
    package let config: Upstream
    package let servers: [ServerTarget]
    let balancers: [LoopLocal<Balancer>]
    /// Requests pipelined per event loop since its last sweep (which moves them to the loop's total).
    let pipelined: [LoopLocal<Int>]
    /// The retries this upstream may take, per event loop.
    let retryBudgets: [LoopLocal<RetryBudget>]
    let outlier: NIOLockedValueBox<OutlierDetector>
    let events: @Sendable (ProxyEvent) -> Void
    /// The upstream's `limits`, nil without any (nothing is counted then).
    let breaker: CircuitBreaker?
    let counters: UpstreamCounters
    /// `ballast_upstream_overflow_total` by limit.
    let overflowCounters: [CircuitBreaker.Limit: Counter]
    /// The upstream's `tls:` as loaded, nil for cleartext.
    let tls: UpstreamTLSContext?
    /// Each server's metric handles, per event loop (`ServerMetrics`).
    let serverMetrics: [LoopLocal<[ServerMetrics?]>]

    init(config: Upstream, servers: [ServerTarget], loopCount: Int, counters: UpstreamCounters = UpstreamCounters(),
         tls: UpstreamTLSContext? = nil, events: @escaping @Sendable (ProxyEvent) -> Void) {
        self.config = config
        self.tls = tls
        self.servers = servers
        self.events = events
        self.counters = counters
        breaker = config.limits.isSet ? CircuitBreaker(config.limits) : nil
        overflowCounters = breaker == nil ? [:] : Dictionary(uniqueKeysWithValues: CircuitBreaker.Limit.allCases.map { limit in
            (limit, Counter(label: "ballast_upstream_overflow_total", dimensions: [("upstream", config.name), ("limit", limit.rawValue)]))
        })
        let maglev = config.balance == .consistentHash
            ? MaglevTable(names: servers.map(\.key), weights: servers.map(\.weight)) : nil
        balancers = (0..<max(1, loopCount)).map { _ in
            LoopLocal(Balancer(algorithm: config.balance, servers: servers, maglev: maglev,
                               panicThresholdPercent: config.panicThresholdPercent))
        }
        pipelined = (0..<max(1, loopCount)).map { _ in LoopLocal(0) }
        serverMetrics = (0..<max(1, loopCount)).map { _ in LoopLocal(Array(repeating: nil, count: servers.count)) }
        retryBudgets = (0..<max(1, loopCount)).map { _ in LoopLocal(RetryBudget()) }
        outlier = NIOLockedValueBox(OutlierDetector(
            serverCount: servers.count, consecutiveFailures: config.outlier.consecutiveFailures,
            ejectForNanos: config.outlier.ejectFor.milliseconds * 1_000_000,
            maxEjectedPercent: config.outlier.maxEjectedPercent))
    }

    package var name: String { config.name }

    /// A request to `server` failed (connect error, reset, 5xx, timeout).
    func recordFailure(_ server: ServerTarget, now: Int64) {
        server.state.hasFailures.store(true, ordering: .relaxed)
        let until = outlier.withLockedValue { $0.recordFailure(server.index, now: now) }
        if let until {
            server.state.ejectedUntil.store(until, ordering: .relaxed)
            events(.serverEjected(upstream: name, server: server.key, seconds: Double(until - now) / 1e9))
        }
    }

    /// Connections open or opening to the upstream, every loop together.
    var connectionCount: Int { servers.reduce(0) { $0 + $1.state.connections.load(ordering: .relaxed) } }

    /// A request went beyond `limit`: counted, and on the timeline at most every 10 s.
    func overflowed(_ limit: CircuitBreaker.Limit, now: Int64) {
        overflowCounters[limit]?.increment()
        if let count = counters.overflowed(now: now) {
            events(.upstreamOverflow(upstream: name, limit: limit.rawValue, count: count))
        }
    }

    /// Cheap when nothing failed: one relaxed atomic load.
    @inline(__always)
    func recordSuccess(_ server: ServerTarget, now: Int64) {
        guard server.state.hasFailures.load(ordering: .relaxed) else { return }
        server.state.hasFailures.store(false, ordering: .relaxed)
        outlier.withLockedValue { $0.recordSuccess(server.index, now: now) }
    }
}

/// Peers whose `X-Forwarded-*` headers are believed: exact addresses or IPv4 CIDR blocks.
struct TrustedPeers: Sendable {
    private let exact: Set<String>
    private let blocks: [(network: UInt32, mask: UInt32)]

    init(_ entries: [String]) {
        var exact: Set<String> = []
        var blocks: [(UInt32, UInt32)] = []
        for entry in entries {
            let parts = entry.split(separator: "/")
            if parts.count == 2, let bits = Int(parts[1]), (0...32).contains(bits), let ip = Self.ipv4(parts[0]) {
                let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << UInt32(32 - bits)
                blocks.append((ip & mask, mask))
            } else {
                exact.insert(entry)
            }
        }
        self.exact = exact
        self.blocks = blocks
    }

    var isEmpty: Bool { exact.isEmpty && blocks.isEmpty }

    func contains(_ ip: String) -> Bool {
        if exact.contains(ip) { return true }
        guard !blocks.isEmpty, let v4 = Self.ipv4(Substring(ip)) else { return false }
        return blocks.contains { v4 & $0.mask == $0.network }
    }

    static func ipv4(_ text: Substring) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for octet in octets {
            guard let n = UInt8(octet) else { return nil }
            value = value << 8 | UInt32(n)
        }
        return value
    }
}

/// Token buckets per client address, shared by the loops (only routes with a limit use it).
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Int64 }
    private let ratePerNano: Double
    private let burst: Double
    private let buckets = NIOLockedValueBox<[String: Bucket]>([:])

    init(_ limit: RateLimit) {
        ratePerNano = limit.perClient.perSecond / 1e9
        burst = Double(limit.burst)
    }

    /// Takes a token for `client`; returns the seconds to wait when there is none.
    func take(client: String, now: Int64) -> Double? {
        buckets.withLockedValue { buckets in
            if buckets.count > 100_000 {
                // Forget clients whose buckets have refilled: they would start full anyway.
                buckets = buckets.filter { Double(now - $0.value.updated) * ratePerNano < burst }
            }
            var bucket = buckets[client] ?? Bucket(tokens: burst, updated: now)
            bucket.tokens = min(burst, bucket.tokens + Double(now - bucket.updated) * ratePerNano)
            bucket.updated = now
            defer { buckets[client] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / ratePerNano / 1e9
        }
    }
}
