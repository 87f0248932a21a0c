/// A health check slower to mark a dead server down than what relies on it: the users who
/// keep reaching the server, the canary watch that judges healthy shares, the alerts on them.
struct SlowFailureDetection: LintRule {
    static let rule = Rule(id: "BL054", severity: .warning, title: "failure detection slower than what relies on it",
                           fix: "lower `health.unhealthy_after` or `health.interval` so that `unhealthy_after × interval + timeout` stays within 60s, the rollout watch and the alerts' patience")

    static let longest: Duration = .seconds(60)

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (i, upstream) in config.upstreams.enumerated() {
            guard let health = upstream.health, !config.routes(to: upstream.name).isEmpty else { continue }
            let path = "upstreams[\(i)].health"
            let key = health.unhealthyAfter > HealthCheck().unhealthyAfter || !config.wrote("\(path).interval") ? "unhealthy_after" : "interval"
            let at = "\(path).\(key)"
            let detection = health.detection
            let how = "(unhealthy_after \(health.unhealthyAfter) × interval \(health.interval.configText) + timeout \(health.timeout.configText))"
            if detection > longest {
                findings.append(finding(
                    "a server of upstream '\(upstream.name)' that dies is noticed by its health check only after up to \(detection.spoken) \(how); until then it is sent requests",
                    at: at, in: config))
            } else {
                for rule in config.alerts.rules where rule.severity == .page {
                    guard case .threshold(let signal, .below, _) = rule.condition, signal.kind == .healthyShare,
                          config.scope(signal.scope, covers: upstream.name), detection + rule.forDuration > longest else { continue }
                    findings.append(finding(
                        "alert '\(rule.name)' pages up to \(( detection + rule.forDuration).spoken) after servers of upstream '\(upstream.name)' die: the health check needs \(detection.spoken) \(how) and the alert waits \(rule.forDuration.spoken) more",
                        at: at, in: config))
                }
            }
            if detection > config.rollout.watch {
                // A watch shortened below its default is the value to change; otherwise the check.
                let watchIsOff = config.wrote("rollout.watch") && config.rollout.watch < Rollout().watch
                findings.append(finding(
                    "a canary whose servers of upstream '\(upstream.name)' die is promoted before they are marked down: the health check needs up to \(detection.spoken) \(how), the rollout watches \(config.rollout.watch.spoken) (`rollout.watch`)",
                    at: watchIsOff ? "rollout.watch" : at, in: config))
            }
        }
        return findings
    }
}
