import Foundation
import Testing
@testable import BallastConfig

/// `alerts:` loads into typed rules, refuses what it cannot mean, and ships defaults.
@Suite struct AlertsConfigTests {
    func withAlerts(_ alerts: String) -> String {
        Config.defaultStackYAML.components(separatedBy: "\n# The alert engine")[0] + "\nalerts:\n" + alerts
    }

    @Test func defaultStackSpellsOutTheDefaults() throws {
        let explicit = try ConfigLoader.load(text: Config.defaultStackYAML, file: "d.yaml").get().config
        #expect(explicit.alertsGiven)
        let implicit = try ConfigLoader.load(text: withAlerts("").replacingOccurrences(of: "\nalerts:\n", with: "\n"), file: "d.yaml").get().config
        #expect(!implicit.alertsGiven)
        // The same rules; the written ones point at the copies `ballast up` writes beside the config,
        // the implicit ones at the same runbooks built into the binary.
        var copied = implicit.alerts
        for index in copied.rules.indices {
            copied.rules[index].runbook = copied.rules[index].runbook.replacingOccurrences(of: ShippedRunbooks.scheme, with: "runbooks/")
        }
        #expect(implicit.alerts.rules.allSatisfy { $0.runbook.hasPrefix(ShippedRunbooks.scheme) })
        #expect(explicit.alerts == copied)
        #expect(explicit.alerts.rules.map(\.name) == [
            "UpstreamUnhealthy", "HealthyShareFell", "ErrorRateHigh", "ErrorBudgetBurn", "LatencyHigh",
            "ErrorRateHigh", "ErrorBudgetBurn", "LatencyHigh", "ActiveSessionsDrop", "LoginFailuresRising",
        ])
        #expect(explicit.alerts.scrape.upstreams == ["auth"])
    }

    /// Per-route request rules up to `perRouteRulesLimit` routes; above it, one set per upstream
    /// that has routes, each watching all of that upstream's routes.
    @Test func manyRoutesGetRulesPerUpstream() throws {
        func config(routes: Int) throws -> Config {
            var yaml = "version: 1\nlisteners:\n  - name: web\n    listen: 127.0.0.1:8080\n    routes:\n"
            for i in 0..<routes {
                yaml += "      - { name: r\(i), match: { path_prefix: /r\(i)/ }, upstream: \(i % 2 == 0 ? "even" : "odd") }\n"
            }
            yaml += "upstreams:\n  - { name: even, servers: [127.0.0.1:9001] }\n  - { name: odd, servers: [127.0.0.1:9002] }\n"
            yaml += "  - { name: spare, servers: [127.0.0.1:9003] }\n"
            return try ConfigLoader.load(text: yaml, file: "m.yaml").get().config
        }
        let atLimit = try config(routes: AlertsConfig.perRouteRulesLimit).alerts.rules
        #expect(atLimit.count { $0.name == "ErrorRateHigh" } == AlertsConfig.perRouteRulesLimit)
        #expect(atLimit.contains { $0.condition.scope == .route("r0") })

        let above = try config(routes: AlertsConfig.perRouteRulesLimit + 1).alerts.rules
        let request = above.filter { ["ErrorRateHigh", "ErrorBudgetBurn", "LatencyHigh"].contains($0.name) }
        #expect(request.count == 6)
        #expect(Set(request.map(\.condition.scope)) == [.upstream("even"), .upstream("odd")])
        #expect(request.first { $0.name == "ErrorBudgetBurn" }?.summary == "Upstream 'even' burns its 99.9% error budget too fast")
        // Health stays per upstream, the one without routes included.
        #expect(above.count { $0.name == "UpstreamUnhealthy" } == 3)
    }

    @Test func defaultRunbooksExist() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let config = try ConfigLoader.load(text: Config.defaultStackYAML, file: "d.yaml").get().config
        // The written stack's runbooks are relative to its file; docs/runbooks/ holds the same files.
        #expect(RunbookCheck.check(config, directory: root.appendingPathComponent("docs").path).isEmpty)
        let findings = RunbookCheck.check(config, directory: "/nonexistent")
        #expect(findings.count == 6)
        #expect(findings.allSatisfy { $0.ruleID == "BL042" && $0.severity == .error && $0.location != nil })
        #expect(findings.first?.message.contains("'runbooks/upstream-unhealthy.md' (/nonexistent/runbooks/upstream-unhealthy.md)") == true)
        // A config without `alerts:` needs no file at all: its runbooks are the shipped ones.
        let implicit = try ConfigLoader.load(text: withAlerts("").replacingOccurrences(of: "\nalerts:\n", with: "\n"), file: "d.yaml",
                                             baseDirectory: "/nonexistent").get().config
        #expect(RunbookCheck.check(implicit).isEmpty)
        #expect(RunbookReview.check(implicit).isEmpty)
        for rule in implicit.alerts.rules {
            #expect(RunbookCheck.text(of: rule.runbook, in: implicit)?.contains(rule.name) == true, "\(rule.runbook)")
        }
        let unknown = try ConfigLoader.load(text: withAlerts("  rules:\n    - { name: A, signal: error_ratio, route: auth, above: 5%, runbook: \"builtin:nope.md\" }\n"),
                                            file: "d.yaml").get().config
        #expect(RunbookCheck.check(unknown).first?.message.contains("not one of the shipped runbooks") == true)
    }

    @Test func readsEveryKindOfRule() throws {
        let config = try ConfigLoader.load(text: withAlerts("""
          scrape: { upstreams: [auth], interval: 2s }
          notify: { webhooks: [{ url: "http://127.0.0.1:9/hook", send_resolved: false, max_attempts: 3 }], group_by: [alertname, route] }
          rules:
            - { name: A, signal: error_ratio, route: auth, window: 10s, above: 2.5%, for: 3s, runbook: x.md }
            - { name: B, signal: latency_p99, upstream: auth, below: 250ms, severity: ticket, runbook: x.md }
            - { name: C, route: auth, slo: { objective: 99.5%, windows: [{ long: 2h, short: 10m, burn_rate: 10 }] }, runbook: x.md }
            - { name: D, signal: active_sessions, anomaly: { drop: 25%, min_change: 3, baseline: 2m, warmup: 30s }, runbook: x.md }
            - { name: E, signal: healthy_share, upstream: auth, below: 0.5, runbook: x.md }
        """), file: "a.yaml").get().config
        let rules = config.alerts.rules
        #expect(config.alerts.scrape.interval == .seconds(2))
        #expect(config.alerts.notify.webhooks.first?.sendResolved == false)
        #expect(config.alerts.notify.webhooks.first?.maxAttempts == 3)
        #expect(config.alerts.notify.webhooks.first?.name == "127.0.0.1:9")
        #expect(config.alerts.notify.groupBy == ["alertname", "route"])
        #expect(rules[0].condition == .threshold(Signal(.errorRatio, scope: .route("auth"), window: .seconds(10)), .above, 0.025))
        #expect(rules[0].forDuration == .seconds(3))
        #expect(rules[1].condition == .threshold(Signal(.latencyP99, scope: .upstream("auth")), .below, 0.25))
        #expect(rules[1].severity == .ticket)
        #expect(rules[2].condition == .burnRate(scope: .route("auth"), objective: 0.995,
                                                windows: [BurnWindow(long: .seconds(7200), short: .seconds(600), factor: 10)]))
        #expect(rules[3].condition == .anomaly(Signal(.activeSessions), Anomaly(direction: .drop, change: 0.25, minChange: 3,
                                                                                 baseline: .seconds(120), warmup: .seconds(30))))
        #expect(rules[4].condition == .threshold(Signal(.healthyShare, scope: .upstream("auth")), .below, 0.5))
    }

    @Test(arguments: [
        ("- { name: A, signal: error_ratio, route: auth, above: 5%, runbook: x.md, severty: page }", "BL002", "did you mean 'severity'?"),
        ("- { name: A, signal: error_rate, route: auth, above: 5%, runbook: x.md }", "BL010", "did you mean 'error_ratio'?"),
        ("- { name: A, signal: error_ratio, route: auth, above: 5%, below: 1%, runbook: x.md }", "BL010", "exactly one"),
        ("- { name: A, signal: error_ratio, route: auth, runbook: x.md }", "BL010", "exactly one"),
        ("- { name: A, signal: error_ratio, route: auth, above: 150%, runbook: x.md }", "BL010", "share from 0% to 100%"),
        ("- { name: A, signal: latency_p99, route: auth, above: 500, runbook: x.md }", "BL004", "durations"),
        ("- { name: A, signal: error_ratio, route: nope, above: 5%, runbook: x.md }", "BL043", "use one of: auth"),
        ("- { name: A, signal: healthy_share, upstream: authh, below: 50%, runbook: x.md }", "BL043", "did you mean 'auth'?"),
        ("- { name: A, signal: healthy_share, below: 50%, runbook: x.md }", "BL008", "upstream"),
        ("- { name: A, signal: error_ratio, route: auth, above: 5% }", "BL008", "runbook"),
        ("- { name: A, signal: error_ratio, route: auth, above: 5%, window: 5, runbook: x.md }", "BL004", "add a unit"),
        ("- { name: A, route: auth, slo: { objective: 100% }, runbook: x.md }", "BL010", "exclusive"),
        ("- { name: A, route: auth, slo: { objective: 99.9%, windows: [{ long: 5m, short: 1h, burn_rate: 2 }] }, runbook: x.md }", "BL010", "shorter"),
        ("- { name: A, signal: active_sessions, anomaly: { drop: 20%, rise: 20% }, runbook: x.md }", "BL010", "exactly one"),
        ("- { name: A, signal: active_sessions, route: auth, above: 5, runbook: x.md }", "BL010", "scraped"),
    ])
    func refusesWhatItCannotMean(rule: String, id: String, words: String) {
        let text = withAlerts("  rules:\n    \(rule)\n")
        let found = allFindings(text).filter { $0.severity == .error }
        #expect(found.contains { $0.ruleID == id && "\($0)".contains(words) }, "got \(found.map(\.description))")
        #expect(found.allSatisfy { $0.location != nil })
    }

    @Test func scrapedSignalsNeedAScrape() {
        let text = withAlerts("  rules:\n    - { name: A, signal: active_sessions, below: 5, runbook: x.md }\n")
        #expect(allFindings(text).contains { $0.ruleID == "BL043" && $0.message.contains("nothing is scraped") })
    }

    @Test func duplicateRulesAreRefused() {
        let rule = "- { name: A, signal: error_ratio, route: auth, above: 5%, runbook: x.md }"
        let text = withAlerts("  rules:\n    \(rule)\n    \(rule)\n")
        #expect(allFindings(text).contains { $0.ruleID == "BL006" && $0.message.contains("defined twice") })
    }

    @Test func webhookMustBeHTTP() {
        let text = withAlerts("  notify: { webhooks: [{ url: \"ftp://x\" }] }\n")
        #expect(allFindings(text).contains { $0.ruleID == "BL010" && $0.message.contains("not an http(s) URL") })
    }

    /// A webhook's URL may be a bearer secret (Slack, Teams): what metrics and logs call it is its
    /// host, or the name the config gives.
    @Test func webhooksAreNamedByHostOrByTheirName() {
        #expect(Webhook.defaultName("https://hooks.slack.com/services/T000/B000/XXXXsecret") == "hooks.slack.com")
        #expect(Webhook.defaultName("http://10.0.0.5:9093/api/v2/alerts?token=abc") == "10.0.0.5:9093")
        #expect(Webhook(url: "https://example.com/x", name: "pager").name == "pager")
    }
}
