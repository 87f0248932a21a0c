import BallastConfig

/// The last ten minutes of what the dashboard charts, one point per evaluation: per upstream,
/// request rate, 5xx ratio, p99 latency and healthy share; overall, active sessions.
struct DashboardHistory {
    static let capacity = 600
    private(set) var times = Ring(capacity: capacity)
    private var series: [String: Ring] = [:]
    private(set) var upstreams: [String] = []

    /// The signals charted for these upstreams.
    static func signals(upstreams: [String]) -> [(key: String, signal: Signal)] {
        upstreams.flatMap { name in
            [("\(name)/rate", Signal(.requestRate, scope: .upstream(name), window: .seconds(5))),
             ("\(name)/errors", Signal(.errorRatio, scope: .upstream(name), window: .seconds(5))),
             ("\(name)/p99", Signal(.latencyP99, scope: .upstream(name), window: .seconds(10))),
             ("\(name)/healthy", Signal(.healthyShare, scope: .upstream(name)))]
        } + [("sessions", Signal(.activeSessions)), ("login_failures", Signal(.loginFailureRatio, window: .seconds(30)))]
    }

    mutating func setUpstreams(_ names: [String]) { upstreams = names }

    mutating func record(_ book: SignalBook, at time: Double) {
        times.append(time, time)
        for (key, signal) in Self.signals(upstreams: upstreams) {
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
    package var times: [Double]
    package var upstreams: [String: Upstream]
    package var activeSessions: [Double?]
    package var loginFailureRatio: [Double?]
}
