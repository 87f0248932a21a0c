import BallastAPI
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
/// GET  /api/v1/events            the timeline (?since=10m or an ISO 8601 time, &until=, &order=oldest|newest, &limit=, &after=NEXT)
/// GET  /api/v1/alerts            every alert rule with its state
/// GET  /api/v1/status            upstreams, traffic, sessions, firing alerts, versions at a glance
/// GET  /api/v1/series            the last ten minutes of the dashboard's charts
/// GET  /api/v1/runbook?path=P    a runbook named by an alert rule, as text
/// GET  /api/v1/ready             200 when the state database answers, 503 with the reason when not
/// GET  /metrics                  Prometheus text format
/// GET  /                         the dashboard
/// ```
package struct AdminAPI: Sendable {
    package let balancer: LoadBalancer
    package let history: ConfigHistory
    package let registry: PrometheusCollectorRegistry
    /// Every change of the config in force goes through it; this type maps its outcomes to HTTP.
    package let applier: ConfigApplier
    package var rollouts: RolloutController { applier.rollouts }
    package let timeline: Timeline
    /// The alert engine, when one runs (ballast lb and up always run one).
    package let alerts: AlertEngine?
    /// Whether the state database answers, and the balancers sharing it.
    package let state: StateMonitor

    package init(balancer: LoadBalancer, history: ConfigHistory, registry: PrometheusCollectorRegistry,
                timeline: Timeline = Timeline(store: MemoryTimelineStore()), alerts: AlertEngine? = nil,
                state: StateMonitor? = nil) {
        self.balancer = balancer
        self.state = state ?? StateMonitor(store: "memory", instance: history.instance)
        self.alerts = alerts
        self.history = history
        self.registry = registry
        self.timeline = timeline
        self.applier = ConfigApplier(balancer: balancer, history: history, timeline: timeline)
    }

    package func addRoutes<Context: RequestContext>(to router: Router<Context>) {
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
                return try Self.response(await applier.rollOut(text: String(buffer: body), author: author, force: query["force"] == "true"))
            }
            return try Self.response(await applier.apply(text: String(buffer: body), author: author))
        }
        api.post("config/rollback") { request, _ in
            try Self.response(await applier.rollBack(by: request.headers[AdminAuthMiddleware<Context>.identity] ?? "admin-api"))
        }
        api.get("config/history") { _, _ in
            do { return try jsonResponse(.ok, AdminReplies.History(versions: try await history.all())) } catch { return stateUnavailable(error) }
        }
        api.get("upstreams") { _, _ in
            try jsonResponse(.ok, UpstreamsReport(runtime: balancer.runtime))
        }
        api.get("events") { request, _ in
            let query = request.uri.queryParameters
            guard let since = parseSince(query["since"].map(String.init)) else {
                return jsonError(.badRequest, "bad_since", "since must be an ISO 8601 time or a duration such as 10m")
            }
            var until: Date?
            if let text = query["until"].map(String.init) {
                guard let parsed = parseSince(text) else {
                    return jsonError(.badRequest, "bad_until", "until must be an ISO 8601 time or a duration such as 10m (that long ago)")
                }
                until = parsed
            }
            let order = query["order"].map(String.init) ?? "oldest"
            guard order == "oldest" || order == "newest" else {
                return jsonError(.badRequest, "bad_order", "order must be oldest or newest")
            }
            var after: EventCursor?
            if let text = query["after"].map(String.init) {
                guard let cursor = EventCursor(text: text) else {
                    return jsonError(.badRequest, "bad_after", "after must be the 'next' of a previous page")
                }
                after = cursor
            }
            let limit = query["limit"].flatMap { Int($0) }.map { min(max($0, 1), 10_000) } ?? 1000
            let eventQuery = EventQuery(since: since, until: until, limit: limit, newestFirst: order == "newest", after: after)
            let events = try await timeline.events(eventQuery)
            return try jsonResponse(.ok, AdminReplies.Events(events: events, next: eventQuery.next(after: events)?.text))
        }
        addMonitoringRoutes(to: router)
        addIncidentRoutes(to: router)
    }

    /// A config change's outcome as the admin API answers it: 200 applied or promoted; 409 rolled
    /// back, refused by preflight, busy, or nothing to roll back; 422 invalid (with every
    /// finding) or failed; 503 when the state database did not answer. Only 200 changed anything.
    static func response(_ outcome: ConfigApplier.Outcome) throws -> Response {
        switch outcome {
        case .applied(let version, let warnings, _):
            return try jsonResponse(.ok, AdminReplies.Applied(version: version, warnings: warnings))
        case .rolledOut(let rollout):
            return try jsonResponse(rollout.outcome == .promoted ? .ok : .conflict, rollout)
        case .invalid(let findings):
            return try jsonResponse(.unprocessableContent, AdminReplies.Findings(error: "invalid_config", findings: findings))
        case .stateUnavailable(let reason):
            return stateUnavailable(reason)
        case .failed(let reason):
            return jsonError(.unprocessableContent, "apply_failed", reason)
        case .busy:
            return jsonError(.conflict, "rollout_in_progress", "another rollout is being watched; try again when it ends")
        case .nothingToRollBack:
            return jsonError(.conflict, "no_previous_version", "there is no earlier applied version to roll back to")
        case .unchanged:
            return jsonError(.conflict, "unchanged", "nothing changed")
        }
    }
}

/// 503: the shared state (config versions) could not be read or written; nothing changed.
func stateUnavailable(_ error: any Error) -> Response { stateUnavailable("\(error)") }

func stateUnavailable(_ reason: String) -> Response {
    var response = jsonError(.serviceUnavailable, "state_unavailable",
                             "the state database did not answer; nothing changed (\(reason))")
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

extension UpstreamsReport {
    package init(runtime: ProxyRuntime) {
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        self.init(version: runtime.version, upstreams: runtime.upstreams.values.sorted { $0.name < $1.name }.map { upstream in
            UpstreamReport(name: upstream.name, balance: upstream.config.balance.rawValue, servers: upstream.servers.map {
                ServerReport(address: $0.key, weight: $0.weight, healthy: $0.state.isHealthy, ejected: $0.state.isEjected(now: now))
            })
        })
    }
}

func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
    let data = try AdminJSON.encoder().encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func jsonError(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys  // swift-foundation keeps no field order without it
    let body = (try? encoder.encode(AdminReplies.Failure(error: code, message: message))) ?? Data()
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}
