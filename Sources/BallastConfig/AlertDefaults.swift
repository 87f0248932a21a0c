extension AlertsConfig {
    /// The rules a config gets when it has no `alerts:` section (and that the default stack
    /// spells out): for every upstream, health; for every route, errors, error budget and
    /// latency; and, when an upstream is named `auth` (Ballast's auth service), its sessions and
    /// logins, read from the replicas' own /metrics.
    package static func defaults(for config: Config) -> AlertsConfig {
        var alerts = AlertsConfig()
        for upstream in config.upstreams {
            alerts.rules.append(AlertRule(
                name: "UpstreamUnhealthy", summary: "Fewer than half of the servers of upstream '\(upstream.name)' are healthy",
                runbook: ShippedRunbooks.reference("upstream-unhealthy.md"), forDuration: .seconds(1),
                condition: .threshold(Signal(.healthyShare, scope: .upstream(upstream.name)), .below, 0.5)))
            alerts.rules.append(AlertRule(
                name: "HealthyShareFell", severity: .ticket,
                summary: "The healthy share of upstream '\(upstream.name)' fell 30% or more below its baseline",
                runbook: ShippedRunbooks.reference("upstream-unhealthy.md"), forDuration: .seconds(5),
                condition: .anomaly(Signal(.healthyShare, scope: .upstream(upstream.name)), Anomaly(direction: .drop, change: 0.3))))
        }
        for route in config.listeners.flatMap(\.routes) {
            alerts.rules.append(AlertRule(
                name: "ErrorRateHigh", summary: "More than 5% of requests on route '\(route.name)' fail with 5xx",
                runbook: ShippedRunbooks.reference("error-rate-high.md"), forDuration: .seconds(1),
                condition: .threshold(Signal(.errorRatio, scope: .route(route.name), window: .seconds(5)), .above, 0.05)))
            alerts.rules.append(AlertRule(
                name: "ErrorBudgetBurn", summary: "Route '\(route.name)' burns its 99.9% error budget too fast",
                runbook: ShippedRunbooks.reference("error-budget-burn.md"),
                condition: .burnRate(scope: .route(route.name), objective: 0.999, windows: BurnWindow.workbook)))
            alerts.rules.append(AlertRule(
                name: "LatencyHigh", severity: .ticket,
                summary: "p99 latency of route '\(route.name)' is above \(config.rollout.p99Above.configText)",
                runbook: ShippedRunbooks.reference("latency-high.md"), forDuration: .seconds(30),
                condition: .threshold(Signal(.latencyP99, scope: .route(route.name), window: .seconds(60)), .above,
                                      Double(config.rollout.p99Above.milliseconds) / 1000)))
        }
        if config.upstream(named: "auth") != nil {
            alerts.scrape.upstreams = ["auth"]
            alerts.rules.append(AlertRule(
                name: "ActiveSessionsDrop", summary: "Active sessions fell 20% or more below their baseline",
                runbook: ShippedRunbooks.reference("active-sessions-drop.md"), forDuration: .seconds(3),
                condition: .anomaly(Signal(.activeSessions), Anomaly(direction: .drop, change: 0.2, minChange: 5))))
            alerts.rules.append(AlertRule(
                name: "LoginFailuresRising", summary: "The share of failed logins rose well above its baseline",
                runbook: ShippedRunbooks.reference("login-failures-rising.md"), forDuration: .seconds(1),
                condition: .anomaly(Signal(.loginFailureRatio, window: .seconds(5)),
                                    Anomaly(direction: .rise, change: 0.5, minChange: 0.2))))
        }
        return alerts
    }
}
