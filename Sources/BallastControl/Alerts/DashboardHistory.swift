import BallastConfig

/// The last ten minutes of what the dashboard charts, one point per evaluation: per upstream,
/// request rate, 5xx ratio, p99 latency and healthy share; per server, its rate, errors (5xx
/// or no answer) and p99; overall, active sessions.
struct DashboardHistory {
    static let capacity = 600
    private(set) var times = Ring(capacity: capacity)
    private var series: [String: Ring] = [:]
    /// Each upstream with its servers (`host:port`), in config order.
    private(set) var upstreams: [(name: String, servers: [String])] = []
    private var signals: [(key: String, signal: Signal)] = []

    /// The signals charted for these upstreams and their servers.
    static func signals(upstreams: [(name: String, servers: [String])]) -> [(key: String, signal: Signal)] {
        upstreams.flatMap { upstream in
            let name = upstream.name
            return [("\(name)/rate", Signal(.requestRate, scope: .upstream(name), window: .seconds(5))),
                    ("\(name)/errors", Signal(.errorRatio, scope: .upstream(name), window: .seconds(5))),
                    ("\(name)/p99", Signal(.latencyP99, scope: .upstream(name), window: .seconds(10))),
                    ("\(name)/healthy", Signal(.healthyShare, scope: .upstream(name)))]
                + upstream.servers.flatMap { server in
                    let scope = SignalScope.server(upstream: name, server: server)
                    return [(serverKey(name, server, "rate"), Signal(.requestRate, scope: scope, window: .seconds(10))),
                            (serverKey(name, server, "errors"), Signal(.errorRatio, scope: scope, window: .seconds(10))),
                            (serverKey(name, server, "p99"), Signal(.latencyP99, scope: scope, window: .seconds(10)))]
                }
        } + [("sessions", Signal(.activeSessions)), ("login_failures", Signal(.loginFailureRatio, window: .seconds(30)))]
    }

    static func serverKey(_ upstream: String, _ server: String, _ what: String) -> String { "\(upstream)@\(server)/\(what)" }

    var upstreamNames: [String] { upstreams.map(\.name) }

    mutating func setUpstreams(_ upstreams: [(name: String, servers: [String])]) {
        self.upstreams = upstreams
        signals = Self.signals(upstreams: upstreams)
        // Series of servers and upstreams no longer configured go.
        let keys = Set(signals.map(\.key))
        series = series.filter { keys.contains($0.key) }
    }

    mutating func record(_ book: SignalBook, at time: Double) {
        times.append(time, time)
        for (key, signal) in signals {
            series[key, default: Ring(capacity: Self.capacity)].append(time, book.value(signal))
        }
    }

    /// The newest point of `key`, nil when it had no data.
    func latest(_ key: String) -> Double? {
        series[key]?.fromNewest(0).flatMap { $0.value.isFinite ? $0.value : nil }
    }

    /// The points of `key` aligned with `times` (nil where there was no data).
    func points(_ key: String) -> [Double?] {
        guard let ring = series[key] else { return Array(repeating: nil, count: times.count) }
        let byTime = Dictionary(ring.ordered.map { ($0.time, $0.value) }, uniquingKeysWith: { _, b in b })
        return times.ordered.map { entry in byTime[entry.time].flatMap { $0.isFinite ? $0 : nil } }
    }
}

/// What `GET /api/v1/series` returns: times in Unix seconds and, per chart, one value per time.
package struct SeriesReport: Sendable, Codable {
    package struct Upstream: Sendable, Codable {
        package var rate: [Double?]
        package var errorRatio: [Double?]
        package var p99Seconds: [Double?]
        package var healthyShare: [Double?]
    }
    /// One server's numbers (5xx ratio counts attempts that got no answer too).
    package struct Server: Sendable, Codable {
        package var rate: [Double?]
        package var errorRatio: [Double?]
        package var p99Seconds: [Double?]
    }
    /// An alert's fixed limit on a charted signal, drawn on its chart.
    package struct Threshold: Sendable, Codable, Equatable {
        package var value: Double
        /// The alert's name, and its route when it watches one route of the upstream.
        package var alert: String
    }
    package var times: [Double]
    package var upstreams: [String: Upstream]
    /// Per upstream, per server `host:port` (absent from older balancers).
    package var servers: [String: [String: Server]]?
    /// Per upstream, per chart (`errorRatio`, `p99Seconds`, `healthyShare`): the limit of the
    /// alert that fires first (the lowest `above`, the highest `below`).
    package var thresholds: [String: [String: Threshold]]?

    /// The thresholds of `config`'s alert rules, per upstream and chart.
    package static func thresholds(_ config: Config) -> [String: [String: Threshold]] {
        let routes = Dictionary(config.listeners.flatMap(\.routes).map { ($0.name, $0.upstream) }, uniquingKeysWith: { a, _ in a })
        var result: [String: [String: Threshold]] = [:]
        for rule in config.alerts.rules {
            guard case .threshold(let signal, let comparison, let value) = rule.condition else { continue }
            let chart: String
            switch (signal.kind, comparison) {
            case (.errorRatio, .above): chart = "errorRatio"
            case (.latencyP99, .above): chart = "p99Seconds"
            case (.healthyShare, .below): chart = "healthyShare"
            default: continue
            }
            let upstreams: [String]
            var label = rule.name
            switch signal.scope {
            case .all: upstreams = config.upstreams.map(\.name)
            case .upstream(let name), .server(let name, _): upstreams = [name]
            case .route(let name):
                upstreams = routes[name].map { [$0] } ?? []
                label += " (route \(name))"
            }
            for upstream in upstreams {
                let current = result[upstream]?[chart]
                let firesFirst = current.map { comparison == .above ? value < $0.value : value > $0.value } ?? true
                if firesFirst { result[upstream, default: [:]][chart] = Threshold(value: value, alert: label) }
            }
        }
        return result
    }
    package var activeSessions: [Double?]
    package var loginFailureRatio: [Double?]
}
