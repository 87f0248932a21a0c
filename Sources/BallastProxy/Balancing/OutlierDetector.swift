/// Passive outlier detection for one upstream, as Envoy does it: a server that fails
/// `consecutiveFailures` times in a row is ejected for `ejectFor × times ejected` (capped at
/// 300 s), unless that would eject more than `maxEjectedPercent` of the upstream (one server
/// may always be ejected). Pure: time comes in as nanoseconds.
package struct OutlierDetector: Sendable, Equatable {
    package struct ServerRecord: Sendable, Equatable {
        package var failuresInARow = 0
        package var ejectedUntil: Int64 = 0
        package var timesEjected = 0
    }

    package let consecutiveFailures: Int
    package let ejectForNanos: Int64
    package let maxEjectedPercent: Double
    package private(set) var servers: [ServerRecord]

    static let maxEjectionNanos: Int64 = 300_000_000_000

    package init(serverCount: Int, consecutiveFailures: Int, ejectForNanos: Int64, maxEjectedPercent: Double) {
        self.consecutiveFailures = max(1, consecutiveFailures)
        self.ejectForNanos = ejectForNanos
        self.maxEjectedPercent = maxEjectedPercent
        self.servers = Array(repeating: ServerRecord(), count: serverCount)
    }

    package func isEjected(_ index: Int, now: Int64) -> Bool { servers[index].ejectedUntil > now }

    package func ejectedCount(now: Int64) -> Int { servers.count { $0.ejectedUntil > now } }

    /// Records a failure; returns the time the server stays ejected until, when it is ejected now.
    package mutating func recordFailure(_ index: Int, now: Int64) -> Int64? {
        guard servers[index].ejectedUntil <= now else { return nil }
        servers[index].failuresInARow += 1
        guard servers[index].failuresInARow >= consecutiveFailures else { return nil }
        let ejected = ejectedCount(now: now)
        let allowed = Int((Double(servers.count) * maxEjectedPercent / 100).rounded(.down))
        guard ejected == 0 || ejected < allowed else { return nil }
        servers[index].timesEjected += 1
        servers[index].failuresInARow = 0
        let duration = min(ejectForNanos * Int64(servers[index].timesEjected), max(ejectForNanos, Self.maxEjectionNanos))
        servers[index].ejectedUntil = now + duration
        return servers[index].ejectedUntil
    }

    /// Records a success: the run of failures ends, and a server that has stayed well since its
    /// last ejection ended has its back-off forgotten.
    package mutating func recordSuccess(_ index: Int, now: Int64) {
        servers[index].failuresInARow = 0
        if servers[index].timesEjected > 0, now - servers[index].ejectedUntil > ejectForNanos {
            servers[index].timesEjected = 0
        }
    }
}
