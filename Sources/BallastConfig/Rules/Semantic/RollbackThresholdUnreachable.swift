/// Rollback thresholds that traffic cannot cross: the automatic rollback is switched off
/// without saying so.
struct RollbackThresholdUnreachable: LintRule {
    static let rule = Rule(id: "BL056", severity: .warning, title: "a rollback threshold that cannot be crossed",
                           fix: "keep `rollback_when.error_rate_above` below 50%, `healthy_below` above 0% and `p99_above` below the routes' response timeouts")

    static func check(_ config: Config) -> [Finding] {
        let when = config.rollout
        var findings: [Finding] = []
        if when.errorRateAbove >= 50 {
            findings.append(finding(
                "a canary is rolled back for errors only when more than \(plain(when.errorRateAbove))% of its requests fail: a change that breaks every other request is promoted",
                at: "rollout.rollback_when.error_rate_above", in: config))
        }
        if when.healthyBelow <= 0 {
            findings.append(finding(
                "a canary is never rolled back for unhealthy servers: the share of healthy servers cannot fall below 0%",
                at: "rollout.rollback_when.healthy_below", in: config))
        }
        let routes = config.listeners.flatMap(\.routes)
        if let slowest = routes.max(by: { $0.longestRequest < $1.longestRequest }), when.p99Above >= slowest.longestRequest {
            findings.append(finding(
                "a canary is never rolled back for latency: p99_above is \(when.p99Above.configText), but no request takes longer than \(slowest.longestRequest.spoken) (route '\(slowest.name)': \(slowest.retries.attempts) × (connect \(slowest.timeouts.connect.configText) + response \(slowest.timeouts.response.configText))) before the balancer answers it",
                at: "rollout.rollback_when.p99_above", in: config))
        }
        return findings
    }
}
