import BallastConfig
import BallastProxy
import BallastStorage
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import Prometheus

/// The admin API of a running load balancer (design.md, "Admin API").
///
/// ```
/// GET  /api/v1/config            the YAML in force (X-Ballast-Config-Version header)
/// POST /api/v1/config            a new YAML; 422 with findings when invalid, nothing changed
/// POST /api/v1/config/rollback   back to the previous applied version
/// GET  /api/v1/config/history    every version with author, time and outcome
/// GET  /api/v1/upstreams         servers with health, ejection and weight
/// GET  /api/v1/events            the timeline (?since=10m or an ISO 8601 time, &limit=)
/// GET  /api/v1/alerts            every alert rule with its state
/// GET  /api/v1/status            upstreams, traffic, sessions, firing alerts, versions at a glance
/// GET  /api/v1/series            the last ten minutes of the dashboard's charts
/// GET  /api/v1/runbook?path=P    a runbook named by an alert rule, as text
/// GET  /api/v1/ready             200 when the state database answers, 503 with the reason when not
/// GET  /metrics                  Prometheus text format
/// GET  /                         the dashboard
/// ```
public struct AdminAPI: Sendable {
    public let balancer: LoadBalancer
    public let history: ConfigHistory
    public let registry: PrometheusCollectorRegistry
    public let rollouts: RolloutController
    public let timeline: Timeline
    /// The alert engine, when one runs (ballast lb and up always run one).
    public let alerts: AlertEngine?
    /// Whether the state database answers, and the balancers sharing it.
    public let state: StateMonitor
    private let applies: @Sendable (String) -> Metrics.Counter
    private let versionGauge: Metrics.Gauge

    public init(balancer: LoadBalancer, history: ConfigHistory, registry: PrometheusCollectorRegistry,
                timeline: Timeline = Timeline(store: MemoryTimelineStore()), alerts: AlertEngine? = nil,
                state: StateMonitor? = nil) {
        self.balancer = balancer
        self.state = state ?? StateMonitor(store: "memory", instance: history.instance)
        self.alerts = alerts
        self.history = history
        self.registry = registry
        self.timeline = timeline
        self.rollouts = RolloutController(balancer: balancer, history: history, timeline: timeline)
        self.applies = { result in Metrics.Counter(label: "ballast_config_applies_total", dimensions: [("result", result)]) }
        self.versionGauge = Metrics.Gauge(label: "ballast_config_version")
        versionGauge.record(balancer.version)
    }

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: MetricCatalogue.withHelp(registry.emitToBuffer()))))
        }
        let api = router.group("api/v1")
        api.get("config") { _, _ in
            let runtime = balancer.runtime
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml"
            headers[HTTPField.Name("X-Ballast-Config-Version")!] = String(runtime.version)
            // What its relative paths (runbooks, TLS files) are relative to.
            headers[HTTPField.Name("X-Ballast-Config-Directory")!] = runtime.config.baseDirectory
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: runtime.config.sourceText)))
        }
        api.post("config") { request, context in
            let body = try await request.body.collect(upTo: 8 << 20)
            let author = request.headers[AdminAuthMiddleware<Context>.identity] ?? "admin-api"
            let query = request.uri.queryParameters
            if query["rollout"] == "staged" {
                return await rollOut(text: String(buffer: body), author: author, force: query["force"] == "true")
            }
            return await apply(text: String(buffer: body), author: author)
        }
        api.post("config/rollback") { request, _ in
            let current = balancer.version
            let found: ConfigHistory.Entry?
            do { found = try await history.previousApplied(before: current) } catch {
                return stateUnavailable(error)
            }
            guard let previous = found else {
                return jsonError(.conflict, "no_previous_version", "there is no earlier applied version to roll back to")
            }
            return await apply(text: previous.source, author: "rollback to v\(previous.version) by \(request.headers[AdminAuthMiddleware<Context>.identity] ?? "admin-api")")
        }
        api.get("config/history") { _, _ in
            do { return try jsonResponse(.ok, ["versions": try await history.all()]) } catch { return stateUnavailable(error) }
        }
        api.get("upstreams") { _, _ in
            try jsonResponse(.ok, UpstreamsReport(runtime: balancer.runtime))
        }
        api.get("events") { request, _ in
            let query = request.uri.queryParameters
            guard let since = parseSince(query["since"].map(String.init)) else {
                return jsonError(.badRequest, "bad_since", "since must be an ISO 8601 time or a duration such as 10m")
            }
            let limit = query["limit"].flatMap { Int($0) }.map { min(max($0, 1), 10_000) } ?? 1000
            return try jsonResponse(.ok, ["events": try await timeline.events(EventQuery(since: since, limit: limit))])
        }
        addMonitoringRoutes(to: router)
        addIncidentRoutes(to: router)
    }

    struct Refusal: Error { var response: Response }

    /// Loads a config sent to the API; an invalid one is answered 422 with every finding.
    func load(_ text: String) -> Result<ConfigLoader.Loaded, Refusal> {
        // Relative paths in a posted config are relative to the directory of the config the
        // balancer was started with (it passes from version to version).
        switch Self.validate(text, file: "<admin>", baseDirectory: balancer.runtime.config.baseDirectory) {
        case .success(let loaded):
            return .success(loaded)
        case .failure(let error):
            applies("invalid").increment()
            let errors = error.findings.filter { $0.severity == .error }.count
            timeline.post(TimelineEvent(source: "config", kind: "config.invalid",
                                        message: "a config sent to the admin API was refused: \(errors) error(s), first: \(error.findings.first?.description ?? "")"))
            let response = (try? jsonResponse(.unprocessableContent, FindingsBody(error: "invalid_config", findings: error.findings)))
                ?? Response(status: .unprocessableContent)
            return .failure(Refusal(response: response))
        }
    }

    /// Every check a config passes before it may replace the one in force: the loader's rules,
    /// then the TLS files and runbooks it names, which must be usable on this host.
    static func validate(_ text: String, file: String, baseDirectory: String) -> Result<ConfigLoader.Loaded, ConfigError> {
        let result = ConfigLoader.load(text: text, file: file, baseDirectory: baseDirectory)
        if case .success(let loaded) = result {
            let files = TLSCheck.check(loaded.config) + RunbookCheck.check(loaded.config)
            if files.contains(where: { $0.severity == .error }) { return .failure(ConfigError(findings: loaded.warnings + files)) }
        }
        return result
    }

    /// Validates `text`, then rolls it out in stages; answers when the rollout has an outcome:
    /// 200 promoted, 409 rolled back or refused by preflight (with the findings), 422 invalid.
    public func rollOut(text: String, author: String, force: Bool) async -> Response {
        let loaded: ConfigLoader.Loaded
        switch load(text) {
        case .failure(let refusal): return refusal.response
        case .success(let value): loaded = value
        }
        do {
            let outcome = try await rollouts.rollOut(loaded, author: author, force: force)
            if outcome.outcome == "promoted" {
                return try jsonResponse(.ok, outcome)
            }
            return try jsonResponse(.conflict, outcome)
        } catch is RolloutController.Busy {
            return jsonError(.conflict, "rollout_in_progress", "another rollout is being watched; try again when it ends")
        } catch let error as StorageUnavailable {
            return stateUnavailable(error)
        } catch {
            applies("failed").increment()
            return jsonError(.unprocessableContent, "apply_failed", "\(error)")
        }
    }

    /// Validates and applies `text`; the config in force changes only when every step passed.
    public func apply(text: String, author: String) async -> Response {
        let loaded: ConfigLoader.Loaded
        switch load(text) {
        case .failure(let refusal): return refusal.response
        case .success(let value): loaded = value
        }
        let previous = balancer.runtime
        let version: Int
        do { version = try await history.reserve(after: previous.version) } catch { return stateUnavailable(error) }
        do {
            let changes = ConfigDiff(old: previous.config, new: loaded.config).changes
            let runtime = try await balancer.apply(loaded.config, version: version)
            do {
                try await history.record(version: runtime.version, author: author, outcome: "applied", source: text, changes: changes)
            } catch {
                // Stored nowhere, so no other balancer could follow: the previous config goes back in force.
                _ = try? await balancer.apply(previous.config, version: previous.version)
                return stateUnavailable(error)
            }
            applies("applied").increment()
            versionGauge.record(runtime.version)
            await timeline.record(TimelineEvent(source: "config", kind: "config.applied", subject: "v\(runtime.version)",
                                                message: "config v\(runtime.version) applied by \(author)" + summary(changes),
                                                details: diffDetails(changes)))
            return try jsonResponse(.ok, AppliedBody(version: runtime.version, warnings: loaded.warnings))
        } catch {
            applies("failed").increment()
            await timeline.record(TimelineEvent(source: "config", kind: "config.failed", message: "applying a config failed: \(error)"))
            return jsonError(.unprocessableContent, "apply_failed", "\(error)")
        }
    }
}

/// 503: the shared state (config versions) could not be read or written; nothing changed.
func stateUnavailable(_ error: any Error) -> Response {
    var response = jsonError(.serviceUnavailable, "state_unavailable",
                             "the state database did not answer; nothing changed (\(error))")
    response.headers[.retryAfter] = "5"
    return response
}

/// `: change; change` for timeline messages, or nothing when nothing changed.
func summary(_ changes: [ConfigDiff.Change]) -> String {
    guard !changes.isEmpty else { return " (no changes)" }
    return ": " + changes.map(changeLine).joined(separator: "; ")
}

/// The change list as a timeline event's `diff` detail, one change a line.
func diffDetails(_ changes: [ConfigDiff.Change]) -> [String: String]? {
    changes.isEmpty ? nil : ["diff": changes.map(changeLine).joined(separator: "\n")]
}

/// `subject: description [blast radius]`.
func changeLine(_ change: ConfigDiff.Change) -> String {
    "\(change.subject): \(change.description)" + (change.blastRadius.map { " [\($0)]" } ?? "")
}

/// `since` as an ISO 8601 time, or a duration back from now (`10m`); nil when unreadable.
func parseSince(_ text: String?, now: Date = Date()) -> Date?? {
    guard let text, !text.isEmpty else { return .some(nil) }
    if let duration = Duration.parseConfig(text) { return now.addingTimeInterval(-Double(duration.milliseconds) / 1000) }
    if let date = ISOTime.parse(text) { return date }
    return nil
}

struct FindingsBody: Codable {
    var error: String
    var findings: [Finding]
}

struct AppliedBody: Codable {
    var version: Int
    var warnings: [Finding]
}

/// What `GET /api/v1/upstreams` answers.
public struct UpstreamsReport: Codable, Sendable {
    public struct ServerReport: Codable, Sendable {
        public var address: String
        public var weight: Int
        public var healthy: Bool
        public var ejected: Bool
    }

    public struct UpstreamReport: Codable, Sendable {
        public var name: String
        public var balance: String
        public var servers: [ServerReport]
    }

    public var version: Int
    public var upstreams: [UpstreamReport]

    public init(runtime: ProxyRuntime) {
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        version = runtime.version
        upstreams = runtime.upstreams.values.sorted { $0.name < $1.name }.map { upstream in
            UpstreamReport(name: upstream.name, balance: upstream.config.balance.rawValue, servers: upstream.servers.map {
                ServerReport(address: $0.key, weight: $0.weight, healthy: $0.state.isHealthy, ejected: $0.state.isEjected(now: now))
            })
        }
    }
}

func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = ISOTime.encoding
    let data = try encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

struct ErrorBody: Encodable {
    var error: String
    var message: String
}

func jsonError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys  // swift-foundation keeps no field order without it
    let body = (try? encoder.encode(ErrorBody(error: code, message: message))) ?? Data()
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}
