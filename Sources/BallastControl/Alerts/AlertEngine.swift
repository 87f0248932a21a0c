import AsyncHTTPClient
import BallastAPI
import BallastConfig
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// The built-in alert engine: every second it reads the balancer's own metrics (and what it
/// scraped from the replicas), evaluates every rule of `alerts:`, and reports firing and
/// resolved alerts to the log, the timeline and the webhooks. It runs beside the data plane,
/// never on its path: nothing here is awaited by a request.
///
/// ```swift
/// let engine = AlertEngine(config: config, timeline: timeline, externalURL: "http://127.0.0.1:9900") {
///     PromText.parse(String(decoding: registry.emitToBuffer(), as: UTF8.self))
/// }
/// Task { await engine.run() }
/// ```
package actor AlertEngine {
    private var config: Config
    private var book = SignalBook()
    private var evaluators: [RuleEvaluator] = []
    private var grouper: AlertGrouper
    private var senders: [WebhookSender] = []
    private var history = DashboardHistory()
    private var scraped: [String: [MetricSample]] = [:]
    private var incidents = IncidentBook()
    private var incidentsRestored = false
    private let timeline: Timeline
    private let logger: Logger
    private let externalURL: String
    private let local: @Sendable () -> [MetricSample]
    private let firingGauges: [AlertSeverity: Gauge]

    package init(config: Config, timeline: Timeline, logger: Logger = Logger(label: "ballast.alerts"),
                externalURL: String, local: @escaping @Sendable () -> [MetricSample]) {
        self.config = config
        self.timeline = timeline
        self.logger = logger
        self.externalURL = externalURL
        self.local = local
        grouper = AlertGrouper(notify: config.alerts.notify, externalURL: externalURL)
        firingGauges = Dictionary(uniqueKeysWithValues: AlertSeverity.allCases.map {
            ($0, Gauge(label: "ballast_alerts_firing", dimensions: [("severity", $0.rawValue)]))
        })
        let (evaluators, book, history, senders) = Self.compile(config, keeping: [], book: SignalBook(),
                                                                history: DashboardHistory(), logger: logger)
        self.evaluators = evaluators
        self.book = book
        self.history = history
        self.senders = senders
    }

    /// Takes the rules of a newly applied config; alerts of unchanged rules keep their state.
    package func apply(_ config: Config) {
        let notifyChanged = config.alerts.notify != self.config.alerts.notify
        self.config = config
        for sender in senders where notifyChanged { sender.stop() }
        let (evaluators, book, history, senders) = Self.compile(config, keeping: evaluators, book: book, history: history,
                                                                logger: logger, senders: notifyChanged ? nil : senders)
        self.evaluators = evaluators
        self.book = book
        self.history = history
        self.senders = senders
        if notifyChanged { grouper = AlertGrouper(notify: config.alerts.notify, externalURL: externalURL) }
    }

    private static func compile(_ config: Config, keeping old: [RuleEvaluator], book: SignalBook, history: DashboardHistory,
                                logger: Logger, senders: [WebhookSender]? = nil)
        -> ([RuleEvaluator], SignalBook, DashboardHistory, [WebhookSender]) {
        let evaluators = config.alerts.rules.map { rule in
            var evaluator = RuleEvaluator(rule: rule)
            if let previous = old.first(where: { $0.rule.name == rule.name && $0.rule.condition.scope == rule.condition.scope }) {
                evaluator.inherit(previous)
            }
            return evaluator
        }
        var book = book
        var history = history
        let upstreams = config.upstreams.map { (name: $0.name, servers: $0.servers.map(\.address.description)) }
        history.setUpstreams(upstreams)
        book.prepare(evaluators.flatMap(\.signals) + DashboardHistory.signals(upstreams: upstreams).map(\.signal), config: config)
        let senders = senders ?? config.alerts.notify.webhooks.map { WebhookSender(webhook: $0, logger: logger) }
        return (evaluators, book, history, senders)
    }

    // MARK: Evaluation

    /// One evaluation at `now` (Unix seconds) over `samples`; returns the alerts that fired and
    /// resolved in it, after notifying.
    @discardableResult
    package func evaluate(now: Double, samples: [MetricSample]) async -> (fired: [AlertStatus], resolved: [AlertStatus]) {
        book.observe(samples, at: now)
        history.record(book, at: now)
        timeline.post(book.vitals(at: now, config: config))
        var fired: [AlertStatus] = []
        var resolved: [AlertStatus] = []
        for index in evaluators.indices {
            switch evaluators[index].evaluate(book, now: now) {
            case .fired(let alert)?: fired.append(alert)
            case .resolved(let alert)?: resolved.append(alert)
            case nil: break
            }
        }
        let firing = evaluators.map(\.status).filter { $0.state == .firing }
        for severity in AlertSeverity.allCases {
            firingGauges[severity]?.record(firing.count { $0.severity == severity })
        }
        for alert in fired { await report(alert, firing: true, at: now) }
        for alert in resolved { await report(alert, firing: false, at: now) }
        for payload in grouper.notifications(firing: firing, resolved: resolved, now: now) {
            for sender in senders { sender.enqueue(payload) }
        }
        return (fired, resolved)
    }

    private func report(_ alert: AlertStatus, firing: Bool, at now: Double) async {
        let scope = alert.labels["route"].map { " route=\($0)" } ?? alert.labels["upstream"].map { " upstream=\($0)" } ?? ""
        if config.alerts.notify.log {
            let metadata: Logger.Metadata = [
                "alert": .string(alert.name), "severity": .string(alert.severity.rawValue), "value": .string(alert.value),
                "runbook": .string(alert.runbook),
            ]
            if firing {
                logger.warning("alert firing: \(alert.summary)", metadata: metadata)
            } else {
                logger.notice("alert resolved: \(alert.summary)", metadata: metadata)
            }
        }
        let event = TimelineEvent(
            at: Date(timeIntervalSince1970: now), source: "alerts", kind: firing ? "alert.firing" : "alert.resolved", subject: "\(alert.name)\(scope)",
            message: firing ? "\(alert.severity.rawValue): \(alert.summary) (\(alert.value)); runbook \(alert.runbook)"
                            : "resolved: \(alert.summary) (\(alert.value))",
            details: ["severity": alert.severity.rawValue, "runbook": alert.runbook, "condition": alert.condition,
                      "value": alert.value, "fingerprint": alert.fingerprint])
        // Posted, not awaited: an alert about the database must not wait for the database.
        timeline.post(event)
        for caused in incidents.observe(event) {
            logger.log(level: caused.kind == "incident.opened" ? .critical : .notice, "\(caused.message)")
            timeline.post(caused)
        }
    }

    /// Rebuilds the incident book from the timeline, once: ids continue, and an incident left
    /// open by an earlier run is closed, since alert state starts afresh.
    package func restoreIncidents() async {
        guard !incidentsRestored else { return }
        incidentsRestored = true
        do {
            incidents = try await IncidentBook.load(from: timeline.store)
            if let closed = incidents.closeOpen(at: Date(), reason: "the balancer restarted, and alert state starts afresh") {
                await timeline.record(closed)
            }
        } catch {
            logger.error("incidents not restored from the timeline", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Running

    /// Evaluates every second and scrapes on the configured interval, until cancelled.
    /// `following` gives the config in force and its version; a new version's rules take over.
    package func run(following current: (@Sendable () -> (version: Int, config: Config))? = nil) async {
        await restoreIncidents()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.scrapeLoop() }
            group.addTask {
                var version = current?().version
                while !Task.isCancelled {
                    let started = ContinuousClock.now
                    if let current, case let now = current(), now.version != version {
                        version = now.version
                        await self.apply(now.config)
                    }
                    let samples = self.local()
                    await self.evaluate(now: Date().timeIntervalSince1970, samples: samples + (await self.scrapedSamples()))
                    try? await Task.sleep(until: Self.nextEvaluation(started: started, finished: .now), clock: .continuous)
                }
            }
            await group.waitForAll()
        }
    }

    private func scrapedSamples() -> [MetricSample] { scraped.values.flatMap { $0 } }

    /// Every second; an evaluation that took long (a registry of thousands of series) is
    /// followed by a pause three times its length, so the engine never holds more than a
    /// quarter of a core that the data plane shares. The pause is at most `maxPause`: an
    /// evaluation that looked long because the process was stopped (SIGSTOP, a suspended VM)
    /// must not silence alerts for three times that.
    static func nextEvaluation(started: ContinuousClock.Instant, finished: ContinuousClock.Instant) -> ContinuousClock.Instant {
        max(started + .seconds(1), finished + min((finished - started) * 3, maxPause))
    }

    static let maxPause = Duration.seconds(5)

    private func scrapeLoop() async {
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let scrape = config.alerts.scrape
            let targets = scrape.upstreams.compactMap { config.upstream(named: $0) }.flatMap(\.servers).map(\.address)
            let results = await withTaskGroup(of: (String, [MetricSample]?).self) { group in
                for address in targets {
                    group.addTask { (address.description, await Self.scrape(address, scrape: scrape)) }
                }
                return await group.reduce(into: [String: [MetricSample]]()) { $0[$1.0] = $1.1 }
            }
            scraped = results.compactMapValues { $0 }
            try? await Task.sleep(until: started + scrape.interval, clock: .continuous)
        }
    }

    /// One scrape of `address`'s metrics, labelled `instance`; nil when it failed.
    static func scrape(_ address: Address, scrape: Scrape) async -> [MetricSample]? {
        let request = HTTPClientRequest(url: "http://\(address)\(scrape.path)")
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .milliseconds(scrape.timeout.milliseconds))
            guard response.status.code == 200 else { return nil }
            let body = try await response.body.collect(upTo: 8 << 20)
            return PromText.parse(String(buffer: body), extraLabels: ["instance": address.description])
        } catch {
            return nil
        }
    }

    // MARK: Reading

    package func alerts() -> [AlertStatus] { evaluators.map(\.status) }

    package func series() -> SeriesReport {
        var upstreams: [String: SeriesReport.Upstream] = [:]
        var servers: [String: [String: SeriesReport.Server]] = [:]
        for (name, addresses) in history.upstreams {
            upstreams[name] = SeriesReport.Upstream(
                rate: history.points("\(name)/rate"), errorRatio: history.points("\(name)/errors"),
                p99Seconds: history.points("\(name)/p99"), healthyShare: history.points("\(name)/healthy"))
            for server in addresses {
                let key = { DashboardHistory.serverKey(name, server, $0) }
                servers[name, default: [:]][server] = SeriesReport.Server(
                    rate: history.points(key("rate")), errorRatio: history.points(key("errors")), p99Seconds: history.points(key("p99")))
            }
        }
        return SeriesReport(times: history.times.ordered.map(\.time), upstreams: upstreams, servers: servers,
                            thresholds: SeriesReport.thresholds(config),
                            activeSessions: history.points("sessions"), loginFailureRatio: history.points("login_failures"))
    }

    /// The newest charted values, without building the whole ten minutes (`ballast status`).
    func latest() -> (traffic: [String: StatusReport.Traffic], servers: [String: [String: StatusReport.Traffic]], activeSessions: Double?) {
        var traffic: [String: StatusReport.Traffic] = [:]
        var servers: [String: [String: StatusReport.Traffic]] = [:]
        for (name, addresses) in history.upstreams {
            traffic[name] = StatusReport.Traffic(requestsPerSecond: history.latest("\(name)/rate"),
                                                 errorRatio: history.latest("\(name)/errors"),
                                                 p99Seconds: history.latest("\(name)/p99"))
            for server in addresses {
                let key = { DashboardHistory.serverKey(name, server, $0) }
                servers[name, default: [:]][server] = StatusReport.Traffic(
                    requestsPerSecond: history.latest(key("rate")), errorRatio: history.latest(key("errors")), p99Seconds: history.latest(key("p99")))
            }
        }
        return (traffic, servers, history.latest("sessions"))
    }

    package func stop() {
        for sender in senders { sender.stop() }
        senders = []
    }
}
