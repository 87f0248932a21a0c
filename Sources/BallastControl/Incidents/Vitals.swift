import BallastConfig
import Foundation

/// The stack's vital signs at one moment, recorded every second beside the timeline: what a
/// postmortem charts and counts impact from after the live ten minutes are gone.
package struct Vitals: Sendable, Codable, Equatable {
    package struct Upstream: Sendable, Codable, Equatable {
        /// Requests and 5xx answers counted since the balancer started (reset-aware).
        package var requests: Double
        package var errors: Double
        package var healthyServers: Double?
        package var servers: Int
    }

    package var at: Date
    package var upstreams: [String: Upstream]
    package var activeSessions: Double?

    package init(at: Date, upstreams: [String: Upstream], activeSessions: Double?) {
        self.at = at
        self.upstreams = upstreams
        self.activeSessions = activeSessions
    }

    var requests: Double { upstreams.values.reduce(0) { $0 + $1.requests } }
    var errors: Double { upstreams.values.reduce(0) { $0 + $1.errors } }
    var healthyServers: Double? {
        let known = upstreams.values.compactMap(\.healthyServers)
        return known.isEmpty ? nil : known.reduce(0, +)
    }
    var servers: Int { upstreams.values.reduce(0) { $0 + $1.servers } }
}

extension SignalBook {
    /// The vital signs of `config`'s upstreams as the book sees them now.
    func vitals(at time: Double, config: Config) -> Vitals {
        var upstreams: [String: Vitals.Upstream] = [:]
        for upstream in config.upstreams {
            let totals = requestTotals(.upstream(upstream.name))
            let share = value(Signal(.healthyShare, scope: .upstream(upstream.name)))
            upstreams[upstream.name] = Vitals.Upstream(
                requests: totals?.requests ?? 0, errors: totals?.errors ?? 0,
                healthyServers: share.isFinite ? (share * Double(upstream.servers.count)).rounded() : nil,
                servers: upstream.servers.count)
        }
        let sessions = value(Signal(.activeSessions))
        return Vitals(at: Date(timeIntervalSince1970: time), upstreams: upstreams, activeSessions: sessions.isFinite ? sessions : nil)
    }
}
