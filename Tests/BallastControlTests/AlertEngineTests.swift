import BallastAPI
import BallastConfig
import Foundation
import Testing
@testable import BallastControl

/// The alert engine on recorded samples: no sockets, an explicit clock.
@Suite struct AlertEngineTests {
    static let base = """
        version: 1
        listeners:
          - name: public
            listen: 127.0.0.1:8080
            routes:
              - { name: auth, match: { path_prefix: / }, upstream: auth }
        upstreams:
          - name: auth
            servers: [127.0.0.1:9101, 127.0.0.1:9102]
            health: { path: /healthz }

        """

    func config(_ alerts: String) throws -> Config {
        try ConfigLoader.load(text: Self.base + alerts, file: "t.yaml").get().config
    }

    func requests(ok: Double, errors: Double, route: String = "auth") -> [MetricSample] {
        [MetricSample(name: "ballast_requests_total", labels: ["route": route, "upstream": "auth", "code": "200"], value: ok),
         MetricSample(name: "ballast_requests_total", labels: ["route": route, "upstream": "auth", "code": "503"], value: errors)]
    }

    /// The engine and its timeline (read through the timeline: the engine posts without waiting).
    func engine(_ config: Config) -> (AlertEngine, Timeline) {
        let timeline = Timeline(store: MemoryTimelineStore())
        return (AlertEngine(config: config, timeline: timeline, externalURL: "http://admin") { [] }, timeline)
    }

    @Test func parsesTheExpositionFormat() {
        let samples = PromText.parse("""
            # HELP x help
            # TYPE x counter
            x_total{a="1",b="q\\"uote\\\\d"} 12
            y 3.5e2 1700000000
            h_bucket{le="+Inf"} 7
            bad{ 1
            z NaN
            """)
        #expect(samples.count == 4)
        #expect(samples[0] == MetricSample(name: "x_total", labels: ["a": "1", "b": "q\"uote\\d"], value: 12))
        #expect(samples[1].value == 350)
        #expect(samples[2].labels["le"] == "+Inf")
        #expect(samples[3].value.isNaN)
    }

    @Test func countersSurviveResetsAndVanishingSeries() {
        var tracker = CounterTracker(selector: Selector(name: "c"), capacity: 10)
        tracker.observe([MetricSample(name: "c", labels: ["i": "a"], value: 100)], at: 0)
        tracker.observe([MetricSample(name: "c", labels: ["i": "a"], value: 110), MetricSample(name: "c", labels: ["i": "b"], value: 5)], at: 1)
        // Replica a restarted (its counter went back to 3); b disappeared.
        tracker.observe([MetricSample(name: "c", labels: ["i": "a"], value: 3)], at: 2)
        let increase = tracker.increase(over: 2)
        #expect(increase?.delta == 18.0)  // 10 from a, 5 from b (born after the first look), 3 after the reset
        #expect(increase?.span == 2)
    }

    @Test func histogramQuantileInterpolatesLikePrometheus() {
        var tracker = HistogramTracker(selector: Selector(name: "h_bucket"), capacity: 10)
        func buckets(_ counts: [Double]) -> [MetricSample] {
            zip(["0.1", "0.5", "1.0", "+Inf"], counts).map { MetricSample(name: "h_bucket", labels: ["le": $0], value: $1) }
        }
        tracker.observe(buckets([0, 0, 0, 0]), at: 0)
        tracker.observe(buckets([50, 90, 100, 100]), at: 1)
        // rank 99 of 100 falls in (0.5, 1.0], 9 of its 10 observations in: 0.5 + 0.5 * 0.9.
        #expect(abs((tracker.quantile(0.99, over: 1) ?? 0) - 0.95) < 1e-9)
        #expect(abs((tracker.quantile(0.5, over: 1) ?? 0) - 0.1) < 1e-9)
    }

    @Test func thresholdWaitsForItsForDurationAndResolves() async throws {
        let (engine, timeline) = engine(try config("""
            alerts:
              rules:
                - { name: Errors, signal: error_ratio, route: auth, window: 5s, above: 5%, for: 2s, runbook: r.md }
            """))
        var ok = 0.0, errors = 0.0
        var t = 1000.0
        func step(_ newOK: Double, _ newErrors: Double) async -> (fired: [AlertStatus], resolved: [AlertStatus]) {
            ok += newOK
            errors += newErrors
            t += 1
            return await engine.evaluate(now: t, samples: requests(ok: ok, errors: errors))
        }
        for _ in 0..<5 { #expect(await step(100, 0).fired.isEmpty) }
        #expect(await step(50, 50).fired.isEmpty)            // pending
        #expect(await engine.alerts()[0].state == .pending)
        #expect(await step(50, 50).fired.isEmpty)            // 1 s
        let fired = await step(50, 50).fired                  // 2 s: fires
        #expect(fired.map(\.name) == ["Errors"])
        #expect(fired[0].labels == ["alertname": "Errors", "severity": "page", "route": "auth"])
        #expect(await step(50, 50).fired.isEmpty)            // no second firing
        var resolved: [AlertStatus] = []
        for _ in 0..<8 where resolved.isEmpty { resolved = await step(100, 0).resolved }
        #expect(resolved.map(\.name) == ["Errors"])
        let kinds = try await timeline.events(EventQuery(limit: 10)).map(\.kind)
        #expect(kinds == ["alert.firing", "incident.opened", "alert.resolved", "incident.closed"])
    }

    /// The earliest certificate in use counts (a listener's and an upstream's client
    /// certificate), measured from the evaluation's clock; a written rule takes a duration.
    @Test func aCertificateNearItsExpiryFiresAndARenewalResolvesIt() async throws {
        let (engine, _) = engine(try config("""
            alerts:
              rules:
                - { name: Expiry, signal: certificate_expiry, below: 7d, runbook: r.md }
            """))
        let now = 2_000_000_000.0
        func expiry(_ days: [Double]) -> [MetricSample] {
            days.enumerated().map { i, d in
                MetricSample(name: "ballast_tls_certificate_expiry_seconds", labels: ["listener": "l\(i)", "subject": "CN=\(i)"], value: now + d * 86_400)
            }
        }
        #expect(await engine.evaluate(now: now, samples: expiry([90, 30])).fired.isEmpty)
        let fired = await engine.evaluate(now: now + 1, samples: expiry([90, 6.5])).fired
        #expect(fired.map(\.name) == ["Expiry"])
        #expect(await engine.alerts()[0].value == "6.5 days")
        #expect(await engine.evaluate(now: now + 2, samples: expiry([90, 90])).resolved.map(\.name) == ["Expiry"])
        // No certificate at all is no data, not an alert.
        await engine.evaluate(now: now + 3, samples: [])
        #expect(await engine.alerts()[0].value == "no data")
        #expect(findingIDs("- { name: E, signal: certificate_expiry, below: 7, runbook: r.md }").contains("BL004"))
        #expect(findingIDs("- { name: E, signal: certificate_expiry, route: auth, below: 7d, runbook: r.md }").contains("BL010"))
    }

    func findingIDs(_ rule: String) -> [String] {
        switch ConfigLoader.load(text: Self.base + "alerts:\n  rules:\n    " + rule + "\n", file: "t.yaml") {
        case .success(let loaded): loaded.warnings.map(\.ruleID)
        case .failure(let error): error.findings.map(\.ruleID)
        }
    }

    @Test func configsWithCertificatesGetTheDefaultExpiryAlert() throws {
        let plain = try config("")
        #expect(!plain.alerts.rules.contains { $0.name == "CertificateExpiresSoon" })
        let tls = try ConfigLoader.load(text: Self.base.replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: 127.0.0.1:8080\n    tls: { cert: a.pem, key: a.key }"),
                                        file: "t.yaml").get().config
        let rule = try #require(tls.alerts.rules.first { $0.name == "CertificateExpiresSoon" })
        #expect(rule.severity == .page)
        guard case .threshold(let signal, .below, let seconds) = rule.condition else { Issue.record("\(rule.condition)"); return }
        #expect(signal.kind == .certificateExpiry && seconds == 7 * 86_400)
    }

    @Test func noTrafficIsNoDataNotAnAlert() async throws {
        let (engine, _) = engine(try config("""
            alerts:
              rules:
                - { name: Errors, signal: error_ratio, route: auth, window: 5s, above: 5%, runbook: r.md }
            """))
        for t in 0..<10 { await engine.evaluate(now: Double(t), samples: requests(ok: 0, errors: 0)) }
        let alert = try #require(await engine.alerts().first)
        #expect(alert.state == .inactive)
        #expect(alert.value == "no data")
    }

    @Test func burnRateNeedsBothWindows() async throws {
        let (engine, _) = engine(try config("""
            alerts:
              rules:
                - { name: Burn, route: auth, slo: { objective: 99%, windows: [{ long: 60s, short: 5s, burn_rate: 10 }] }, runbook: r.md }
            """))
        // 60 s at 2% errors: burn 2×, below 10× on both windows.
        var ok = 0.0, errors = 0.0
        for t in 0..<60 {
            ok += 98; errors += 2
            await engine.evaluate(now: Double(t), samples: requests(ok: ok, errors: errors))
        }
        #expect(await engine.alerts()[0].state == .inactive)
        // A short spike of 100% errors: the short window burns at 100×, the long one must catch up.
        var firedAt: Int?
        for t in 60..<90 where firedAt == nil {
            errors += 100
            let result = await engine.evaluate(now: Double(t), samples: requests(ok: ok, errors: errors))
            if !result.fired.isEmpty { firedAt = t }
        }
        // Long window: errors/total over 60 s ≥ 10% happens after ~5 s of the spike.
        let at = try #require(firedAt)
        #expect(at > 61 && at < 70, "fired at \(at)")
    }

    @Test func anomalyFiresOnATwentyPercentFallAndNotOnDrift() async throws {
        let (engine, _) = engine(try config("""
            alerts:
              scrape: { upstreams: [auth] }
              rules:
                - { name: Sessions, signal: active_sessions, anomaly: { drop: 20%, min_change: 5, baseline: 30s, warmup: 30s }, for: 2s, runbook: r.md }
            """))
        func sessions(_ n: Double) -> [MetricSample] {
            [MetricSample(name: "ballast_auth_active_sessions", labels: ["instance": "a"], value: n),
             MetricSample(name: "ballast_auth_active_sessions", labels: ["instance": "b"], value: n)]
        }
        var t = 0.0
        // Slow drift from 1000 to 900 over three minutes: the baseline follows, nothing fires.
        for i in 0..<180 {
            t += 1
            let fired = await engine.evaluate(now: t, samples: sessions(1000 - Double(i) * 100 / 180)).fired
            #expect(fired.isEmpty, "fired on drift at \(i)")
        }
        // A sudden fall of 20%: fires after `for` (2 s).
        var firedAfter: Double?
        let fall = t
        for _ in 0..<10 where firedAfter == nil {
            t += 1
            if !(await engine.evaluate(now: t, samples: sessions(900 * 0.8)).fired.isEmpty) { firedAfter = t - fall }
        }
        #expect(firedAfter == 3)
        // The baseline did not learn the fall while firing; recovery resolves it.
        for _ in 0..<20 { t += 1; await engine.evaluate(now: t, samples: sessions(720)) }
        #expect(await engine.alerts()[0].state == .firing)
        t += 1
        #expect(await engine.evaluate(now: t, samples: sessions(900)).resolved.map(\.name) == ["Sessions"])
    }

    @Test func groupingSendsEachChangeOnceAndRepeats() {
        var notify = Notify()
        notify.repeatInterval = .seconds(60)
        var grouper = AlertGrouper(notify: notify, externalURL: "http://admin")
        func alert(_ name: String, _ route: String, firing: Bool = true) -> AlertStatus {
            let labels = ["alertname": name, "severity": "page", "route": route]
            return AlertStatus(name: name, severity: .page, summary: "s", runbook: "r.md", labels: labels,
                               state: firing ? .firing : .inactive, condition: "c", value: "v",
                               firingSince: Date(timeIntervalSince1970: 0), fingerprint: RuleEvaluator.fingerprint(labels))
        }
        let a = alert("Errors", "a"), b = alert("Errors", "b")
        let first = grouper.notifications(firing: [a], resolved: [], now: 0)
        #expect(first.count == 1 && first[0].status == "firing" && first[0].alerts.count == 1)
        #expect(first[0].groupLabels == ["alertname": "Errors"])
        #expect(first[0].commonLabels == ["alertname": "Errors", "severity": "page", "route": "a"])
        #expect(grouper.notifications(firing: [a], resolved: [], now: 1).isEmpty)      // no duplicate
        let second = grouper.notifications(firing: [a, b], resolved: [], now: 2)         // grows: one message, both alerts
        #expect(second.count == 1 && second[0].alerts.count == 2)
        #expect(second[0].commonLabels == ["alertname": "Errors", "severity": "page"])
        #expect(grouper.notifications(firing: [a, b], resolved: [], now: 30).isEmpty)
        #expect(grouper.notifications(firing: [a, b], resolved: [], now: 63).count == 1) // repeat_interval
        let resolved = grouper.notifications(firing: [], resolved: [alert("Errors", "a", firing: false), alert("Errors", "b", firing: false)], now: 70)
        #expect(resolved.count == 1 && resolved[0].status == "resolved" && resolved[0].alerts.allSatisfy { $0.status == "resolved" })
        #expect(grouper.notifications(firing: [], resolved: [], now: 80).isEmpty)
    }

    @Test func rulesKeepTheirStateAcrossAnApply() async throws {
        let alerts = """
            alerts:
              rules:
                - { name: Errors, signal: error_ratio, route: auth, window: 5s, above: 5%, runbook: r.md }
            """
        let (engine, _) = engine(try config(alerts))
        await engine.evaluate(now: 0, samples: requests(ok: 0, errors: 0))
        await engine.evaluate(now: 1, samples: requests(ok: 0, errors: 100))
        #expect(await engine.alerts()[0].state == .firing)
        await engine.apply(try config(alerts + "\n    - { name: Other, signal: request_rate, route: auth, above: 1000000, runbook: r.md }\n"))
        let states = await engine.alerts().map(\.state)
        #expect(states == [.firing, .inactive])
        // And the history of the series was kept: still firing without a new firing event.
        #expect(await engine.evaluate(now: 2, samples: requests(ok: 0, errors: 200)).fired.isEmpty)
    }

    @Test func exportedRulesSayTheSameInPromQL() throws {
        let config = try ConfigLoader.load(text: Config.defaultStackYAML, file: "d.yaml").get().config
        let text = PrometheusRules.export(config)
        #expect(text.contains("- alert: ErrorRateHigh"))
        #expect(text.contains(#"sum(rate(ballast_requests_total{route=\"auth\",code=~\"5..\"}[1m]))"#))
        #expect(text.contains("> 0.0144 and"))
        #expect(text.contains("runbook_url: \"runbooks/active-sessions-drop.md\""))
        #expect(text.components(separatedBy: "- alert: ").count - 1 == config.alerts.rules.count)
    }
}

extension AlertEngineTests {
    @Test func anomalyCatchesAFallWhileTheBaselineStillLagsARampUp() async throws {
        let (engine, _) = engine(try config("""
            alerts:
              scrape: { upstreams: [auth] }
              rules:
                - { name: Sessions, signal: active_sessions, anomaly: { drop: 20%, baseline: 1m, warmup: 1m }, for: 2s, runbook: r.md }
            """))
        func sessions(_ n: Double) -> [MetricSample] { [MetricSample(name: "ballast_auth_active_sessions", value: n)] }
        var t = 0.0
        // 0 → 200 sessions in 20 s, then steady for 50 s: the 1-minute EWMA is still well below 200.
        for i in 0..<70 {
            t += 1
            await engine.evaluate(now: t, samples: sessions(min(200, Double(i) * 10)))
        }
        var firedAfter: Double?
        let fall = t
        for _ in 0..<10 where firedAfter == nil {
            t += 1
            if !(await engine.evaluate(now: t, samples: sessions(160)).fired.isEmpty) { firedAfter = t - fall }
        }
        #expect(firedAfter == 3)
        // It stays firing while the level stays down (the reference froze with the fall)…
        for _ in 0..<60 { t += 1; await engine.evaluate(now: t, samples: sessions(160)) }
        #expect(await engine.alerts()[0].state == .firing)
        // …and after ten baseline periods the new level is accepted.
        var resolved = false
        for _ in 0..<600 where !resolved {
            t += 1
            resolved = !(await engine.evaluate(now: t, samples: sessions(160)).resolved.isEmpty)
        }
        #expect(resolved)
    }

    /// Behind more than `perRouteRulesLimit` routes the default request rules watch each
    /// upstream: errors on any one of its routes still page, naming the upstream.
    @Test func manyRoutesAlertPerUpstream() async throws {
        var yaml = "version: 1\nlisteners:\n  - name: public\n    listen: 127.0.0.1:8080\n    routes:\n"
        for i in 0...AlertsConfig.perRouteRulesLimit {
            yaml += "      - { name: r\(i), match: { path_prefix: /r\(i)/ }, upstream: auth }\n"
        }
        yaml += "upstreams:\n  - { name: auth, servers: [127.0.0.1:9101] }\n"
        let config = try ConfigLoader.load(text: yaml, file: "m.yaml").get().config
        let (engine, _) = engine(config)
        var fired: [AlertStatus] = []
        for t in 0..<8 {
            let samples = requests(ok: Double(t) * 10, errors: 0, route: "r0")
                + requests(ok: 0, errors: Double(t) * 10, route: "r\(AlertsConfig.perRouteRulesLimit)")
            fired += await engine.evaluate(now: 1_000 + Double(t), samples: samples).fired
        }
        let errorRate = fired.first { $0.name == "ErrorRateHigh" }
        #expect(errorRate?.labels["upstream"] == "auth")
        #expect(errorRate?.labels["route"] == nil)
        #expect(errorRate?.summary.contains("upstream 'auth'") == true)
    }

    /// An evaluation runs every second, and never takes more than a quarter of the time.
    @Test func aSlowEvaluationSpacesTheNextOut() {
        let start = ContinuousClock.now
        #expect(AlertEngine.nextEvaluation(started: start, finished: start + .milliseconds(20)) == start + .seconds(1))
        #expect(AlertEngine.nextEvaluation(started: start, finished: start + .milliseconds(250)) == start + .seconds(1))
        #expect(AlertEngine.nextEvaluation(started: start, finished: start + .milliseconds(600))
                    == start + .milliseconds(600) + .milliseconds(1800))
        // A process stopped for a minute mid-evaluation is not silent for three more.
        #expect(AlertEngine.nextEvaluation(started: start, finished: start + .seconds(60)) == start + .seconds(65))
    }
}
