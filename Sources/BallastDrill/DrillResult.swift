import BallastAPI
import BallastConfig
import Foundation

/// What the drill saw after the fault, on the load generator's clock (seconds).
package struct Watch: Sendable {
    package let scenario: Scenario
    package let faultSecond: Double
    package let faultDate: Date
    package var detectedAt: Double?
    package var detectedBy: String?
    /// Each detector that matched, with when it first did.
    package var seen: [String: Double] = [:]
    /// Runbooks of the alerts that fired.
    package var runbooks: Set<String> = []
    package var firingNow: Set<String> = []
    package var fixedAt: Double?
    package var restoredAt: Double?
    package var recoveredAt: Double?

    init(scenario: Scenario, faultSecond: Double, faultDate: Date) {
        self.scenario = scenario
        self.faultSecond = faultSecond
        self.faultDate = faultDate
    }

    mutating func observe(alerts: [AlertStatus], events: [TimelineEvent], now: Double) {
        firingNow = Set(alerts.filter { $0.state == .firing }.map(\.name))
        for event in events where event.at >= faultDate {
            let at = faultSecond + event.at.timeIntervalSince(faultDate)
            var names = ["event:\(event.kind)"]
            if event.kind == "alert.firing", let subject = event.subject {
                let name = String(subject.prefix { $0 != " " })
                names += ["alert:\(name)", "alert:*"]
                if let runbook = event.details?["runbook"] { runbooks.insert(runbook) }
            }
            for name in names where seen[name] == nil { seen[name] = at }
        }
        // Alerts seen firing by polling count too (their event may still be on its way).
        for name in firingNow {
            for key in ["alert:\(name)", "alert:*"] where seen[key] == nil { seen[key] = now }
        }
        if detectedAt == nil, let first = scenario.detectors.compactMap({ key in seen[key].map { (key, $0) } }).min(by: { $0.1 < $1.1 }) {
            detectedBy = first.0 == "alert:*" ? seen.filter { $0.key.hasPrefix("alert:") && $0.key != "alert:*" }
                .min { $0.value < $1.value }?.key ?? first.0 : first.0
            detectedAt = first.1
        }
        if restoredAt == nil {
            let times = scenario.restoredBy.compactMap { $0 == "drill" ? fixedAt : seen[$0].flatMap { at in at >= (fixedAt ?? faultSecond) ? at : nil } }
            restoredAt = times.min()
        }
    }

    /// Recovered: restored, then three whole seconds without a failed request.
    mutating func checkRecovered(load: LoadGenerator, now: Double) {
        guard recoveredAt == nil, let restored = restoredAt else { return }
        var second = Int(restored)
        while Double(second + 3) <= now {
            if (0..<3).allSatisfy({ load.second(second + $0).failed == 0 }) {
                recoveredAt = max(restored, Double(second))
                return
            }
            second += 1
        }
    }
}

/// A drill's scores against its scenario's targets.
package struct DrillResult: Sendable {
    package var scenario: Scenario
    package var watch: Watch
    package var requests: Int
    package var failed: Int
    package var sessionsLost: Int
    package var incident: Int?

    package struct Score: Sendable, Codable {
        package var name: String
        package var value: String
        package var target: String
        package var met: Bool
    }

    package var timeToDetect: Double? { watch.detectedAt.map { max(0, $0 - watch.faultSecond) } }
    package var timeToRecover: Double? { watch.recoveredAt.map { max(0, $0 - watch.faultSecond) } }
    package var failedPercent: Double { requests > 0 ? Double(failed) * 100 / Double(requests) : 0 }
    package var rightSignal: Bool { scenario.expected.contains { watch.seen[$0] != nil } }

    package var scores: [Score] {
        let targets = scenario.targets
        var scores = [
            Score(name: "time to detect", value: timeToDetect.map { String(format: "%.1f s", $0) } ?? "not detected",
                  target: String(format: "≤ %.0f s", targets.detectSeconds), met: (timeToDetect ?? .infinity) <= targets.detectSeconds),
            Score(name: "time to recover", value: timeToRecover.map { String(format: "%.1f s", $0) } ?? "not recovered",
                  target: String(format: "≤ %.0f s", targets.recoverSeconds), met: (timeToRecover ?? .infinity) <= targets.recoverSeconds),
        ]
        if let limit = targets.failedPercent {
            scores.append(Score(name: "requests failed", value: String(format: "%d of %d (%.2f%%)", failed, requests, failedPercent),
                                target: String(format: "< %g%%", limit), met: failedPercent < limit))
        } else {
            scores.append(Score(name: "requests failed", value: String(format: "%d of %d (%.2f%%)", failed, requests, failedPercent),
                                target: "not scored", met: true))
        }
        scores.append(Score(name: "sessions lost", value: String(sessionsLost), target: "≤ \(targets.sessionsLost)",
                            met: sessionsLost <= targets.sessionsLost))
        scores.append(Score(name: "the right signal came up", value: rightSignal ? "yes" : "no (saw \(watch.seen.keys.filter { $0 != "alert:*" }.sorted().joined(separator: ", ")))",
                            target: scenario.expected.joined(separator: " or "), met: rightSignal))
        return scores
    }

    package var passed: Bool { scores.allSatisfy(\.met) }
}

/// A drill's outcome for scripts: `ballast drill run --format json` prints it and every drill
/// writes it to `result.json` beside its report. Times are seconds after the fault.
package struct DrillSummary: Sendable, Codable {
    package var scenario: String
    package var passed: Bool
    package var requests: Int
    package var failed: Int
    package var failedPercent: Double
    package var sessionsLost: Int
    package var timeToDetect: Double?
    package var detectedBy: String?
    package var timeToRecover: Double?
    package var incident: Int?
    package var scores: [DrillResult.Score]

    package init(_ result: DrillResult) {
        scenario = result.scenario.name
        passed = result.passed
        requests = result.requests
        failed = result.failed
        failedPercent = result.failedPercent
        sessionsLost = result.sessionsLost
        timeToDetect = result.timeToDetect
        detectedBy = result.watch.detectedBy
        timeToRecover = result.timeToRecover
        incident = result.incident
        scores = result.scores
    }
}
