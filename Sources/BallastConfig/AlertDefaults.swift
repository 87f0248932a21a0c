extension AlertsConfig {
    /// Up to this many routes the request rules are per route; above it, per upstream.
    package static let perRouteRulesLimit = 200

    /// Default alerts that only some configs raise: `CertificateExpiresSoon` needs a TLS
    /// certificate, the auth service's alerts an upstream named `auth`.
    package static let conditionalDefaults: Set<String> = ["CertificateExpiresSoon", "ActiveSessionsDrop", "LoginFailuresRising"]

    /// The rules a config gets when it has no `alerts:` section (and that the default stack
    /// spells out): for every upstream, health; for every route, errors, error budget and
    /// latency (for every upstream instead, above `perRouteRulesLimit` routes); and, when an
    /// upstream is named `auth` (Ballast's auth service), its sessions and logins, read from
    /// the replicas' own /metrics.
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
        let routes = config.listeners.flatMap(\.routes)
        if routes.count <= perRouteRulesLimit {
            for route in routes {
                alerts.rules += requestRules(scope: .route(route.name), naming: "route '\(route.name)'", config: config)
            }
        } else {
            // Behind thousands of routes, per-route rules would keep three histories per route
            // and the engine a core busy with no traffic at all (docs/performance.md): an
            // upstream's routes are watched together, as a Prometheus rule grouped by upstream.
            for upstream in config.upstreams where routes.contains(where: { $0.upstream == upstream.name }) {
                alerts.rules += requestRules(scope: .upstream(upstream.name), naming: "upstream '\(upstream.name)'", config: config)
            }
        }
        if config.listeners.contains(where: { $0.tls != nil }) || config.upstreams.contains(where: { $0.tls?.client != nil }) {
            // Clients refuse an expired certificate: a week is time to renew by hand when the
            // automatic renewal failed.
            alerts.rules.append(AlertRule(
                name: "CertificateExpiresSoon", summary: "A TLS certificate in use expires within 7 days",
                runbook: ShippedRunbooks.reference("certificate-expiring.md"), forDuration: .seconds(1),
                condition: .threshold(Signal(.certificateExpiry), .below, 7 * 86_400)))
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

    /// Errors, error budget and latency of `scope` (a route or an upstream).
    private static func requestRules(scope: SignalScope, naming subject: String, config: Config) -> [AlertRule] {
        let onSubject = subject.prefix(1).uppercased() + subject.dropFirst()
        return [
            AlertRule(
                name: "ErrorRateHigh", summary: "More than 5% of requests on \(subject) fail with 5xx",
                runbook: ShippedRunbooks.reference("error-rate-high.md"), forDuration: .seconds(1),
                condition: .threshold(Signal(.errorRatio, scope: scope, window: .seconds(5)), .above, 0.05)),
            AlertRule(
                name: "ErrorBudgetBurn", summary: "\(onSubject) burns its 99.9% error budget too fast",
                runbook: ShippedRunbooks.reference("error-budget-burn.md"),
                condition: .burnRate(scope: scope, objective: 0.999, windows: BurnWindow.workbook)),
            AlertRule(
                name: "LatencyHigh", severity: .ticket,
                summary: "p99 latency of \(subject) is above \(config.rollout.p99Above.configText)",
                runbook: ShippedRunbooks.reference("latency-high.md"), forDuration: .seconds(30),
                condition: .threshold(Signal(.latencyP99, scope: scope, window: .seconds(60)), .above,
                                      Double(config.rollout.p99Above.milliseconds) / 1000)),
        ]
    }
}
