/// An alert whose condition traffic cannot meet: a share above 100%, a rate below zero, a p99
/// above what the balancer lets any request take, a burn rate that needs more than every
/// request to fail. The page it promises never comes.
struct AlertCannotFire: LintRule {
    static let rule = Rule(id: "BL061", severity: .warning, title: "an alert that can never fire",
                           fix: "set the threshold inside what the signal can reach")

    static func check(_ config: Config) -> [Finding] {
        // The default rules follow other keys (p99_above, the routes); rules about those keys say it.
        guard config.alertsGiven else { return [] }
        var findings: [Finding] = []
        for (i, rule) in config.alerts.rules.enumerated() {
            let path = "alerts.rules[\(i)]"
            switch rule.condition {
            case .threshold(let signal, _, _), .anomaly(let signal, _):
                if signal.kind.isScraped, signal.kind.isWindowed, signal.window < config.alerts.scrape.interval {
                    findings.append(finding(
                        "alert '\(rule.name)' judges \(signal.kind.rawValue) over \(signal.window.spoken), but the replicas are scraped every \(config.alerts.scrape.interval.spoken) (`alerts.scrape.interval`): most windows hold no new scrape, so the signal has no data there",
                        at: "\(path).window", in: config))
                }
            case .burnRate: break
            }
            switch rule.condition {
            case .threshold(let signal, let comparison, let value):
                let key = "\(path).\(comparison.rawValue)"
                if signal.kind.isRatio, comparison == .above, value >= 1 {
                    findings.append(finding("alert '\(rule.name)' waits for \(signal.kind.rawValue) above 100%, which a share cannot exceed", at: key, in: config))
                } else if comparison == .below, value <= 0 {
                    findings.append(finding("alert '\(rule.name)' waits for \(signal.kind.rawValue) below \(signal.format(value)), which it cannot fall under", at: key, in: config))
                } else if signal.kind == .latencyP99, comparison == .above,
                          let slowest = config.routes(in: signal.scope).max(by: { $0.longestRequest < $1.longestRequest }),
                          value >= slowest.longestRequest.seconds {
                    findings.append(finding(
                        "alert '\(rule.name)' waits for a p99 above \(signal.format(value)), but the balancer answers every request of \(signal.scope) within \(slowest.longestRequest.spoken) (route '\(slowest.name)': \(slowest.retries.attempts) × (connect \(slowest.timeouts.connect.configText) + response \(slowest.timeouts.response.configText)))",
                        at: key, in: config))
                }
            case .anomaly(let signal, let anomaly):
                if anomaly.direction == .drop, anomaly.change >= 1 {
                    findings.append(finding("alert '\(rule.name)' waits for \(signal.kind.rawValue) to drop by \(plain(anomaly.change * 100))% or more of its baseline, which only a fall to nothing reaches",
                                            at: "\(path).anomaly.drop", in: config))
                }
            case .burnRate(_, let objective, let windows):
                for (w, window) in windows.enumerated() where window.factor * (1 - objective) > 1 {
                    findings.append(finding(
                        "alert '\(rule.name)' fires at a burn rate of \(plain(window.factor)) against a \(plain(objective * 100))% objective: that needs \(plain(window.factor * (1 - objective) * 100))% of requests to fail, more than all of them",
                        at: "\(path).slo.windows[\(w)].burn_rate", in: config))
                }
            }
        }
        return findings
    }
}
