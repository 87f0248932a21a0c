import BallastAPI
import BallastAuth
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOFoundationEssentialsCompat
import NIOHTTP1
import Prometheus
import Testing

/// Monitoring against real parts: promtool on the real /metrics, a real webhook receiver, the
/// real balancer losing its servers, and the dashboard in headless Chromium.
@Suite(.serialized) struct MonitoringTests {
    static func stackYAML(port: Int, servers: [Int], alerts: String = "", route: String = "all", upstream: String = "app",
                          healthInterval: String = "200ms", healthTimeout: String = "100ms", unhealthyAfter: Int = 2) -> String {
        simpleConfig(port: port, servers: servers.map { "127.0.0.1:\($0)" },
                     extraUpstream: "    health: { path: /healthz, interval: \(healthInterval), timeout: \(healthTimeout), healthy_after: 1, unhealthy_after: \(unhealthyAfter) }",
                     route: route, upstream: upstream)
            + "\n" + alerts
    }

    static func engine(for balancer: LoadBalancer, timeline: Timeline) -> AlertEngine {
        AlertEngine(config: balancer.runtime.config, timeline: timeline, externalURL: "http://127.0.0.1") {
            PromText.parse(TestMetrics.text)
        }
    }

    init() {
        _ = TestMetrics.registry   // bootstrap swift-metrics before any balancer makes a handle
    }

    @Test func everyMetricsEndpointPassesPromtool() async throws {
        let backend = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { Self.stackYAML(port: $0, servers: [backend.port]) }
        defer { Task { await proxy.stop(); await backend.stop() } }
        for _ in 0..<5 { _ = try await fetch(port: proxy.port, .GET, "/") }
        _ = try await fetch(port: proxy.port, .GET, "/status/503")
        try await Task.sleep(for: .milliseconds(1200))   // the USE gauges refresh every second
        let api = AdminAPI(balancer: proxy.balancer, history: ConfigHistory(), registry: TestMetrics.registry)
        let admin = Application(router: { let r = Router(); api.addRoutes(to: r); return r }())
        let store = try SQLiteAuthStore(path: FileManager.default.temporaryDirectory
            .appendingPathComponent("ballast-promtool-\(UUID().uuidString)/a.sqlite").path)
        try await store.migrate()
        let service = try await AuthService(store: store, hasher: PasswordHasher(cost: 4))
        let registry = TestMetrics.registry
        let auth = Application(router: AuthAPI(service: service, metricsText: { MetricCatalogue.withHelp(registry.emitToBuffer()) }).router())
        let authText = try await auth.test(.router) { client async throws in
            _ = try await client.execute(uri: "/auth/login", method: .post, headers: [.contentType: "application/json"],
                                         body: ByteBuffer(string: #"{"username":"nobody","password":"wrong password!"}"#))
            return String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
        }
        let adminText = try await admin.test(.router) { client async throws in
            String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
        }
        let outputs = [adminText, authText]
        for text in outputs {
            for family in ["ballast_requests_total", "ballast_request_duration_seconds", "ballast_upstream_server_up",
                           "ballast_upstream_healthy_share", "ballast_upstream_pool_connections", "ballast_listener_connections",
                           "ballast_upstream_requests_in_flight", "ballast_auth_logins_total",
                           "ballast_upstream_server_requests_total", "ballast_upstream_server_response_seconds"] {
                #expect(text.contains("# HELP \(family) "), "no \(family) with help text")
            }
            let result = try runTool("promtool", ["check", "metrics"], input: Data(text.utf8), package: "prometheus")
            #expect(result.status == 0, "promtool check metrics: \(result.output)")
        }
        // And promtool is not a rubber stamp: the raw registry output (no HELP) fails it.
        let raw = try runTool("promtool", ["check", "metrics"], input: Data(TestMetrics.text.utf8), package: "prometheus")
        #expect(raw.status != 0)
    }

    /// Per-server numbers (issue 24, part 4): each server's answers by class, the attempts that
    /// got none, its latency histogram; the dashboard's series and status have them per server.
    @Test func eachServerIsCountedApartWithItsFailuresAndLatency() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let dead = try DeadPort()
        defer { dead.release() }
        let upstream = "per-server-" + UUID().uuidString.prefix(8).lowercased()
        let servers = [a.address, b.address, "127.0.0.1:\(dead.port)"]
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: servers, extraUpstream: "    outlier: { consecutive_failures: 1000 }", extraRoute: "        retries: { attempts: 3, on: [connect-failure], budget_percent: 100 }",
                         upstream: upstream)
        }
        let engine = Self.engine(for: proxy.balancer, timeline: Timeline(store: MemoryTimelineStore()))
        for _ in 0..<30 { #expect(try await fetch(port: proxy.port, .GET, "/").status == 200) }
        for _ in 0..<9 { #expect(try await fetch(port: proxy.port, .GET, "/status/503").status == 503) }
        let samples = PromText.parse(TestMetrics.text).filter { $0.labels["upstream"] == upstream }
        await engine.evaluate(now: 0, samples: samples)
        func count(_ server: String, _ code: String, in samples: [MetricSample] = samples) -> Double {
            samples.first { $0.name == "ballast_upstream_server_requests_total" && $0.labels["server"] == server && $0.labels["code"] == code }?.value ?? 0
        }
        // Every answer is counted on the server that gave it, every refused attempt on the dead one.
        #expect(count(a.address, "2xx") + count(b.address, "2xx") == 30)
        #expect(count(a.address, "5xx") + count(b.address, "5xx") == 9)
        #expect(count(a.address, "2xx") > 0 && count(b.address, "2xx") > 0)
        #expect(count("127.0.0.1:\(dead.port)", "failed") >= 1)
        #expect(count("127.0.0.1:\(dead.port)", "2xx") == 0)
        for server in [a.address, b.address] {
            let histogramCount = samples.first {
                $0.name == "ballast_upstream_server_response_seconds_count" && $0.labels["server"] == server
            }?.value
            #expect(histogramCount == count(server, "2xx") + count(server, "5xx"), "\(server)")
        }
        // At most six counters and one histogram per server, whatever the statuses.
        let codes = Set(samples.filter { $0.name == "ballast_upstream_server_requests_total" }.compactMap { $0.labels["code"] })
        #expect(codes.isSubset(of: ["1xx", "2xx", "3xx", "4xx", "5xx", "failed"]))
        // The engine charts them per server: rate over the 5 s between two evaluations.
        for _ in 0..<20 { #expect(try await fetch(port: proxy.port, .GET, "/").status == 200) }
        let later = PromText.parse(TestMetrics.text).filter { $0.labels["upstream"] == upstream }
        await engine.evaluate(now: 5, samples: later)
        let series = await engine.series()
        let perServer = try #require(series.servers?[upstream])
        #expect(Set(perServer.keys) == Set(servers))
        let aRate = try #require(perServer[a.address]?.rate.last.flatMap { $0 })
        #expect(abs(aRate - (count(a.address, "2xx", in: later) - count(a.address, "2xx")) / 5) < 0.01)
        let deadErrors = try #require(perServer["127.0.0.1:\(dead.port)"]?.errorRatio.last.flatMap { $0 })
        #expect(deadErrors == 1)
        let aP99 = try #require(perServer[a.address]?.p99Seconds.last.flatMap { $0 })
        #expect(aP99 > 0 && aP99 < 1)
        await proxy.stop()
    }

    /// A route's latency histogram appears with its first request: behind thousands of routes,
    /// those that never served one export nothing for the alert engine to read every second.
    @Test func aRouteThatServedNothingExportsNoHistogram() async throws {
        let backend = try await TestBackend.start("a")
        let tag = UUID().uuidString.prefix(8).lowercased()
        let proxy = try await ProxyHarness.start { port in
            """
            version: 1
            listeners:
              - name: web
                listen: 127.0.0.1:\(port)
                routes:
                  - { name: served-\(tag), match: { path_prefix: /served }, upstream: app }
                  - { name: idle-\(tag), match: { path_prefix: / }, upstream: app }
            upstreams:
              - name: app
                servers: [127.0.0.1:\(backend.port)]
            """
        }
        defer { Task { await proxy.stop(); await backend.stop() } }
        #expect(!TestMetrics.text.contains("route=\"served-\(tag)\""))
        let response = try await fetch(port: proxy.port, .GET, "/served/x")
        #expect(response.status == 200)
        // Recorded as the exchange ends, which may be just after the client has its answer.
        func histogramLines() -> [Substring] {
            TestMetrics.text.split(separator: "\n").filter {
                $0.hasPrefix("ballast_request_duration_seconds_count{") && $0.contains("route=\"served-\(tag)\"")
            }
        }
        for _ in 0..<50 where histogramLines().isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(histogramLines().count == 1)
        #expect(!TestMetrics.text.contains("route=\"idle-\(tag)\""))
    }

    @Test func exportedRulesPassPromtool() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let everyKind = Self.stackYAML(port: 8080, servers: [9101], alerts: """
            alerts:
              scrape: { upstreams: [app] }
              rules:
                - { name: A, signal: error_ratio, route: all, window: 10s, above: 5%, for: 3s, runbook: r.md }
                - { name: B, signal: latency_p99, upstream: app, above: 250ms, severity: ticket, runbook: r.md }
                - { name: C, route: all, slo: { objective: 99.5%, windows: [{ long: 2h, short: 10m, burn_rate: 10 }] }, runbook: r.md }
                - { name: D, signal: active_sessions, anomaly: { drop: 25%, min_change: 3 }, runbook: r.md }
                - { name: E, signal: login_failure_ratio, anomaly: { rise: 50%, min_change: 20% }, runbook: r.md }
                - { name: F, signal: healthy_share, upstream: app, below: 50%, runbook: "https://runbooks.example/app \\"down\\"" }
                - { name: G, signal: request_rate, above: 1000, runbook: r.md }
            """)
        for (name, text) in [("defaults", Config.defaultStackYAML), ("every-kind", everyKind)] {
            let config = try ConfigLoader.load(text: text, file: name).get().config
            let file = directory.appendingPathComponent("\(name).yml")
            try PrometheusRules.export(config).write(to: file, atomically: true, encoding: .utf8)
            let result = try runTool("promtool", ["check", "rules", file.path], package: "prometheus")
            #expect(result.status == 0, "promtool check rules \(name): \(result.output)")
            #expect(result.output.contains("SUCCESS: \(config.alerts.rules.count) rules found"), "\(result.output)")
        }
        // A broken rule file fails it, so the check above means something.
        let broken = directory.appendingPathComponent("broken.yml")
        try "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: \"sum(rate(x[5m]) >\"\n".write(to: broken, atomically: true, encoding: .utf8)
        #expect(try runTool("promtool", ["check", "rules", broken.path], package: "prometheus").status != 0)
    }

    @Test func webhooksGetAlertmanagerPayloadsWithRetriesAndNoDuplicates() async throws {
        let received = NIOLockedValueBox<[WebhookPayload]>([])
        let attempts = NIOLockedValueBox(0)
        let router = Router()
        router.post("/hook") { request, _ -> Response in  // the token travels in the query
            let attempt = attempts.withLockedValue { $0 += 1; return $0 }
            if attempt <= 2 { return Response(status: .internalServerError) }   // the receiver is flaky at first
            let body = try await request.body.collect(upTo: 1 << 20)
            received.withLockedValue { $0.append(try! JSONDecoder().decode(WebhookPayload.self, from: Data(buffer: body))) }
            return Response(status: .ok)
        }
        let hookPort = try await freePort()
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: hookPort)))
        let serving = Task { try await receiver.runService() }
        defer { serving.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        _ = TestMetrics.registry
        let config = try ConfigLoader.load(text: Self.stackYAML(port: 8080, servers: [9101], alerts: """
            alerts:
              notify: { webhooks: [{ url: "http://127.0.0.1:\(hookPort)/hook?token=s3cret-in-the-url" }] }
              rules:
                - { name: Errors, signal: error_ratio, route: all, window: 5s, above: 5%, runbook: docs/runbooks/error-rate-high.md }
            """), file: "t").get().config
        let engine = AlertEngine(config: config, timeline: Timeline(store: MemoryTimelineStore()), externalURL: "http://127.0.0.1:9900") { [] }
        func requests(_ ok: Double, _ errors: Double) -> [MetricSample] {
            [MetricSample(name: "ballast_requests_total", labels: ["route": "all", "code": "200"], value: ok),
             MetricSample(name: "ballast_requests_total", labels: ["route": "all", "code": "502"], value: errors)]
        }
        await engine.evaluate(now: 0, samples: requests(0, 0))
        for t in 1...4 { await engine.evaluate(now: Double(t), samples: requests(10, Double(t) * 10)) }   // fires once
        for t in 5...12 { await engine.evaluate(now: Double(t), samples: requests(Double(t) * 100, 40)) }  // resolves
        let deadline = ContinuousClock.now + .seconds(15)
        while received.withLockedValue({ $0.count }) < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let payloads = received.withLockedValue { $0 }
        #expect(payloads.map(\.status) == ["firing", "resolved"])
        #expect(attempts.withLockedValue { $0 } == 4)   // two failures retried, then one per notification
        let firing = try #require(payloads.first)
        // Metrics name the receiver by its host, never by its URL (which may carry a secret).
        let metrics = TestMetrics.text
        #expect(metrics.contains("ballast_alert_notifications_total{receiver=\"127.0.0.1:\(hookPort)\",result=\"sent\"}")
                || metrics.contains("ballast_alert_notifications_total{result=\"sent\",receiver=\"127.0.0.1:\(hookPort)\"}"), "\(metrics.split(separator: "\n").filter { $0.contains("notifications") })")
        #expect(!metrics.contains("s3cret"))
        #expect(firing.version == "4")
        #expect(firing.groupLabels == ["alertname": "Errors"])
        #expect(firing.alerts.first?.labels["route"] == "all")
        #expect(firing.alerts.first?.annotations["runbook_url"] == "docs/runbooks/error-rate-high.md")
        #expect(firing.alerts.first?.endsAt == "0001-01-01T00:00:00Z")
        #expect(payloads.last?.alerts.first?.status == "resolved")
        await engine.stop()
    }

    @Test func killingEveryServerFiresWithinSeconds() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        // The metrics are process-wide and other tests answer 5xx on route "all" meanwhile: this
        // balancer's route and upstream have names of their own, so only its traffic is judged.
        let proxy = try await ProxyHarness.start { Self.stackYAML(port: $0, servers: [a.port, b.port], alerts: """
            alerts:
              rules:
                - { name: Down, signal: healthy_share, upstream: killed, below: 50%, runbook: r.md }
                - { name: Errors, signal: error_ratio, route: killing, window: 3s, above: 5%, runbook: r.md }
            """, route: "killing", upstream: "killed") }
        let timeline = Timeline(store: MemoryTimelineStore())
        let engine = Self.engine(for: proxy.balancer, timeline: timeline)
        let running = Task { await engine.run() }
        defer { running.cancel(); Task { await proxy.stop() } }
        let traffic = Task {
            while !Task.isCancelled {
                _ = try? await fetch(port: proxy.port, .GET, "/")
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { traffic.cancel() }
        try await Task.sleep(for: .seconds(3))
        #expect(await engine.alerts().allSatisfy { $0.state == .inactive })
        let killed = ContinuousClock.now
        await a.stop()
        await b.stop()
        var firing: Set<String> = []
        while firing.count < 2, ContinuousClock.now - killed < .seconds(20) {
            try await Task.sleep(for: .milliseconds(100))
            firing = Set(await engine.alerts().filter { $0.state == .firing }.map(\.name))
        }
        #expect(firing == ["Down", "Errors"])
        let events = try await timeline.events(EventQuery(limit: 100))
        #expect(events.contains { $0.kind == "alert.firing" && $0.subject == "Down upstream=killed" && $0.details?["runbook"] == "r.md" })
        await engine.stop()
    }

    /// Runs headless Chromium on `url`: the DOM after `budget` ms of virtual time, and a
    /// screenshot of the page at `screenshot` when asked.
    func chromium(_ url: String, budget: Int = 5000, screenshot: String? = nil) throws -> String {
        var arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=\(budget)"]
        if let screenshot {
            arguments += ["--window-size=1280,1400", "--screenshot=\(screenshot)", "--hide-scrollbars"]
        } else {
            arguments += ["--dump-dom"]
        }
        let result = try runTool("chromium", arguments + [url], package: "chromium")
        #expect(result.status == 0, "\(result.output.suffix(2000))")
        return result.output
    }

    /// The dashboard, issue 24 part 5: live charts on fixed scales with units and the alerts'
    /// thresholds, a text alternative per chart, each server's numbers, the newest events first
    /// and at most 40, firing alerts announced in a live region.
    @Test func dashboardRendersLiveChartsInChromium() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        // Lenient health checks: Chromium starting on 2 cores once delayed two 100 ms probes in a
        // row in CI, and the test saw a healthy server drawn as down. Names of its own: the
        // metrics are process-wide and other tests answer 5xx on route "all" meanwhile.
        let proxy = try await ProxyHarness.start {
            Self.stackYAML(port: $0, servers: [a.port, b.port], alerts: """
                alerts:
                  rules:
                    - { name: Busy, severity: info, signal: request_rate, upstream: dash, window: 5s, above: 1, runbook: r.md }
                    - { name: Errors, signal: error_ratio, upstream: dash, window: 5s, above: 2%, runbook: r.md }
                    - { name: Slow, signal: latency_p99, upstream: dash, window: 10s, above: 300ms, runbook: r.md }
                """, route: "dash", upstream: "dash", healthInterval: "1s", healthTimeout: "900ms", unhealthyAfter: 3)
        }
        let timeline = Timeline(store: MemoryTimelineStore())
        let engine = Self.engine(for: proxy.balancer, timeline: timeline)
        let running = Task { await engine.run() }
        let api = AdminAPI(balancer: proxy.balancer, history: ConfigHistory(), registry: TestMetrics.registry, timeline: timeline, alerts: engine)
        let adminPort = try await freePort()
        var admin = Admin()
        admin.listen = Address(host: "127.0.0.1", port: adminPort)
        let app = AdminServer.application(api: api, admin: admin, credentials: AdminCredentials(), logger: Logger(label: "test"))
        let serving = Task { try await app.runService() }
        defer {
            serving.cancel()
            running.cancel()
            Task { await proxy.stop(); await a.stop(); await b.stop() }
        }
        // An earlier incident, as the alert engine records one: the panel lists it with its draft.
        var book = IncidentBook()
        let fired = TimelineEvent(at: Date().addingTimeInterval(-90), source: "alerts", kind: "alert.firing", subject: "Down upstream=app",
                                  message: "page: half the servers are down", details: ["severity": "page", "runbook": "r.md"])
        let resolved = TimelineEvent(at: Date().addingTimeInterval(-60), source: "alerts", kind: "alert.resolved", subject: "Down upstream=app",
                                     message: "resolved: half the servers are down")
        for event in [fired] + book.observe(fired) + [resolved] + book.observe(resolved) { await timeline.record(event) }
        // More events than the page shows: it must show the newest, newest first.
        for index in 0..<60 {
            await timeline.record(TimelineEvent(source: "test", kind: "note.test", message: "dash event \(index)"))
        }
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(4) {
            for _ in 0..<10 { _ = try? await fetch(port: proxy.port, .GET, "/") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let status = await api.status()
        #expect((status.traffic["dash"]?.requestsPerSecond ?? 0) > 0, "status has no traffic: \(status.traffic)")
        #expect(status.upstreams.first?.servers.count == 2)
        let page = try chromium("http://127.0.0.1:\(adminPort)/")
        // What the page shows, without its own script's text.
        let dom = String(page[..<(page.range(of: "<script>")?.lowerBound ?? page.endIndex)])
        #expect(dom.contains(#"data-loaded="true""#), "the page did not load its data: \(dom.suffix(3000))")
        func attribute(_ id: String, _ name: String) -> String? {
            guard let tag = dom.range(of: #"id="\#(id)""#) else { return nil }
            let rest = dom[tag.upperBound...].prefix { $0 != ">" }
            guard let range = rest.range(of: #" \#(name)=""#) else { return nil }
            return String(rest[range.upperBound...].prefix { $0 != "\"" })
        }
        func points(_ id: String) -> Int { attribute(id, "data-points").flatMap { Int($0) } ?? -1 }
        #expect(points("chart-dash-rate") >= 2, "request rate chart drew \(points("chart-dash-rate")) points")
        #expect(points("chart-dash-healthy") >= 2)
        #expect(points("chart-dash-p99") >= 1)
        // Fixed scales: no 5xx still draws 0–5%, not a full chart; the threshold is drawn and
        // sets the scale (2% × 1.25 fits 5%; 300 ms × 1.25 needs 500 ms).
        #expect(attribute("chart-dash-errors", "data-scale-max") == "0.05")
        #expect(attribute("chart-dash-errors", "data-threshold") == "0.02")
        #expect(attribute("chart-dash-p99", "data-scale-max") == "0.5")
        #expect(attribute("chart-dash-p99", "data-threshold") == "0.3")
        #expect(attribute("chart-dash-healthy", "data-scale-max") == "1")
        #expect(dom.contains("Errors 2.00%") && dom.contains("Slow 300 ms"), "threshold labels")
        // Each chart says in words what it shows.
        #expect(dom.contains(#"<title id="chart-dash-errors-desc">dash: 5xx ratio, last 10 minutes: now 0.00%"#), "\(dom.suffix(4000))")
        #expect(dom.contains("scale 0 to 5.00%; alert Errors at 2.00%"))
        let images = dom.components(separatedBy: #"role="img" aria-labelledby=""#).dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(images == ["chart-dash-rate-desc", "chart-dash-errors-desc", "chart-dash-p99-desc", "chart-dash-healthy-desc", "chart-sessions-desc"],
                "\(images)")
        // Both servers, up, with their own numbers.
        #expect(dom.components(separatedBy: #"class="server" data-state="up""#).count - 1 == 2)
        #expect(dom.components(separatedBy: #"<td class="server-numbers">"#).dropFirst().filter { $0.contains("/s · errors 0.00% · p99 ") && !$0.hasPrefix("–") }.count == 2)
        // The newest 40 events, newest first.
        let rows = dom.components(separatedBy: #"<tr class="event""#).dropFirst()
        #expect(rows.count == 40, "\(rows.map { $0.prefix(120) })")
        let notes = rows.compactMap { row in row.range(of: "dash event ").map { Int(row[$0.upperBound...].prefix { $0.isNumber }) ?? -1 } }
        #expect(notes.first == 59 && notes == notes.sorted(by: >), "\(notes)")  // alerts recorded since may come before
        #expect(!dom.contains("dash event 0<"))
        // The firing alert is announced in the live region, and shown.
        #expect(dom.contains(#"aria-live="assertive" aria-atomic="true">Alert Busy firing (info)"#), "\(dom.prefix(4000))")
        #expect(dom.contains(#"data-alert="Busy""#))
        #expect(dom.contains(#"class="incident" data-incident="1" data-state="closed""#), "no incident row: \(dom.suffix(3000))")
        #expect(dom.contains(#"data-postmortem="1""#))
        #expect(dom.contains("30 s"))  // how long it lasted
        #expect(!dom.contains(#"id="error">the"#))
        // A screenshot of the same page: a real picture, not a blank one.
        let shot = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-\(UUID().uuidString).png").path
        _ = try chromium("http://127.0.0.1:\(adminPort)/", screenshot: shot)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        #expect(png.count > 40_000, "a \(png.count)-byte screenshot is too small to hold the charts")
    }

    /// An admin API that wants a token: the page asks once, in a form, and stops polling until
    /// it has one (it used to raise a prompt for each of its four requests at every refresh).
    @Test func theDashboardAsksForTheTokenOnce() async throws {
        let proxy = try await ProxyHarness.start { Self.stackYAML(port: $0, servers: [1]) }
        defer { Task { await proxy.stop() } }
        let api = AdminAPI(balancer: proxy.balancer, history: ConfigHistory(), registry: TestMetrics.registry)
        let adminPort = try await freePort()
        var admin = Admin()
        admin.listen = Address(host: "127.0.0.1", port: adminPort)
        var credentials = AdminCredentials()
        credentials.add(token: "dashboard-test-token-0123456789abcdef", as: .init(name: "test", role: .write))
        let app = AdminServer.application(api: api, admin: admin, credentials: credentials, logger: Logger(label: "test"))
        let serving = Task { try await app.runService() }
        defer { serving.cancel() }
        try await waitUntilAsync { (try? await fetch(port: adminPort, .GET, "/").status) != nil }
        let dom = try chromium("http://127.0.0.1:\(adminPort)/", budget: 9000)
        #expect(dom.contains(#"data-token-asks="1""#), "\(dom.prefix(3000))")
        #expect(dom.contains(#"<form id="token-form">"#))  // shown: no `hidden`
        #expect(dom.contains(#"data-polls="1""#))  // and nothing more was asked while it waits
        #expect(!dom.contains(#"data-loaded="true""#))
    }
}
