import BallastConfig
import Metrics
import NIOConcurrencyHelpers

/// What one event loop counted at its last sweep (every 250 ms).
struct LoopUsage: Sendable {
    var connections: [String: Int] = [:]
    var inFlight: [String: Int] = [:]
    var idle: [String: Int] = [:]
    /// Requests pipelined on this loop since it started.
    var pipelined: [String: Int] = [:]
}

/// Gauge handles created once per label set and reused, for gauges written every second.
final class GaugeCache: Sendable {
    private let gauges = NIOLockedValueBox<[String: Gauge]>([:])

    func gauge(_ label: String, _ dimensions: [(String, String)]) -> Gauge {
        let key = ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{0}")
        return gauges.withLockedValue { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = Gauge(label: label, dimensions: dimensions)
            gauges[key] = gauge
            return gauge
        }
    }
}

/// The utilisation and saturation side of the metrics (USE), published once a second:
/// connections per listener against their limit, requests in flight and idle pooled
/// connections per upstream, and each upstream's healthy share and ejections.
final class UsageGauges: Sendable {
    private let cache = GaugeCache()
    /// Per upstream: the pipelined total last published, and its counter.
    private let pipelined = NIOLockedValueBox<[String: (seen: Int, counter: Counter)]>([:])

    private func gauge(_ label: String, _ dimensions: [(String, String)]) -> Gauge { cache.gauge(label, dimensions) }

    func refresh(_ runtime: ProxyRuntime, loops: [LoopUsage], now: Int64) {
        for listener in runtime.config.listeners {
            let open = loops.reduce(0) { $0 + ($1.connections[listener.name] ?? 0) }
            gauge("ballast_listener_connections", [("listener", listener.name)]).record(open)
            gauge("ballast_listener_connections_limit", [("listener", listener.name)]).record(listener.limits.maxConnections)
        }
        for upstream in runtime.upstreams.values {
            let name = upstream.name
            gauge("ballast_upstream_requests_in_flight", [("upstream", name)])
                .record(loops.reduce(0) { $0 + ($1.inFlight[name] ?? 0) })
            gauge("ballast_upstream_pool_connections", [("upstream", name), ("state", "idle")])
                .record(loops.reduce(0) { $0 + ($1.idle[name] ?? 0) })
            let available = upstream.servers.count { $0.state.isAvailable(now: now) }
            gauge("ballast_upstream_healthy_share", [("upstream", name)])
                .record(upstream.servers.isEmpty ? 0 : Double(available) / Double(upstream.servers.count))
            publishPipelined(name, total: loops.reduce(0) { $0 + ($1.pipelined[name] ?? 0) })
            for server in upstream.servers {
                gauge("ballast_upstream_server_ejected", [("upstream", name), ("server", server.key)])
                    .record(server.state.isEjected(now: now) ? 1 : 0)
            }
        }
    }

    /// Adds what was pipelined since the last refresh (the loops' totals only grow).
    private func publishPipelined(_ upstream: String, total: Int) {
        pipelined.withLockedValue { state in
            let entry = state[upstream] ?? (0, Counter(label: "ballast_upstream_pipelined_requests_total", dimensions: [("upstream", upstream)]))
            let added = total - entry.seen
            if added > 0 { entry.counter.increment(by: added) }
            state[upstream] = (total, entry.counter)
        }
    }
}
