import BallastAPI
import BallastConfig
import BallastProxy
import Foundation
import Hummingbird
import NIOCore

/// What `GET /api/v1/status` answers, and `ballast status` prints.
package struct StatusReport: Codable, Sendable {
    package struct Traffic: Codable, Sendable {
        package var requestsPerSecond: Double?
        package var errorRatio: Double?
        package var p99Seconds: Double?
    }

    package struct Rollout: Codable, Sendable {
        package var canaryVersion: Int?
    }

    package var version: Int
    package var upstreams: [UpstreamsReport.UpstreamReport]
    package var traffic: [String: Traffic]
    /// Per upstream, per server `host:port`: its attempts a second, the share that got a 5xx or
    /// no answer, and its p99 (absent from older balancers).
    package var serverTraffic: [String: [String: Traffic]]?
    package var activeSessions: Double?
    package var alerts: [AlertStatus]
    package var rollout: Rollout
    package var history: [ConfigHistory.Entry]
    /// The shared state and every balancer on it (absent in reports from older balancers).
    package var state: StateMonitor.Report?
    /// WebSocket and other upgraded connections open now, by route (absent from older balancers).
    package var tunnels: [String: Int]?

    /// Balancers that run another version than the newest applied one, with what they run.
    package var disagreements: [BalancerInstance] {
        guard let state, let latest = state.latestVersion else { return [] }
        return state.balancers.filter { $0.version != latest }
    }
}

extension AdminAPI {
    func addMonitoringRoutes<Context: RequestContext>(to router: Router<Context>) {
        let api = router.group("api/v1")
        api.get("alerts") { _, _ in
            let alerts = await self.alerts?.alerts() ?? []
            return try jsonResponse(.ok, AdminReplies.Alerts(alerts: alerts))
        }
        api.get("series") { _, _ in
            guard let engine = self.alerts else {
                return jsonError(.notFound, "no_alert_engine", "this balancer runs no alert engine")
            }
            return try jsonResponse(.ok, await engine.series())
        }
        api.get("status") { _, _ in
            try jsonResponse(.ok, await self.status())
        }
        // Liveness and readiness of the balancer itself, without a token (no data in them).
        router.get("/healthz") { _, _ in
            try jsonResponse(.ok, ["status": "alive"])
        }
        router.get("/readyz") { _, _ in
            let serving = self.balancer.isServing
            return try jsonResponse(serving ? .ok : .serviceUnavailable,
                                    ProbeBody(ready: serving, version: self.balancer.version,
                                              reason: serving ? nil : "the listeners are not bound or are draining"))
        }
        api.get("ready") { _, _ in
            // The data plane serves whatever happens here; readiness says whether this balancer
            // can take and follow config changes.
            let report = await self.state.report()
            return try jsonResponse(report.reachable ? .ok : .serviceUnavailable,
                                    ReadyBody(ready: report.reachable, version: self.balancer.version, store: report.store, error: report.error))
        }
        api.get("runbook") { request, _ in
            guard let path = request.uri.queryParameters["path"].map(String.init) else {
                return jsonError(.badRequest, "missing_path", "pass ?path= with a runbook of an alert rule")
            }
            // Only runbooks the rules in force name, so this cannot read any other file.
            guard self.balancer.runtime.config.alerts.rules.contains(where: { $0.runbook == path }) else {
                return jsonError(.notFound, "unknown_runbook", "no alert rule in force names this runbook")
            }
            guard let text = RunbookCheck.text(of: path, in: self.balancer.runtime.config) else {
                return jsonError(.notFound, "runbook_missing", "the runbook '\(path)' is not readable here")
            }
            return Response(status: .ok, headers: [.contentType: "text/markdown; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                     body: .init(byteBuffer: ByteBuffer(string: Dashboard.html)))
        }
    }

    package func status() async -> StatusReport {
        let runtime = balancer.runtime
        let latest = await alerts?.latest()
        return StatusReport(
            version: runtime.version, upstreams: UpstreamsReport(runtime: runtime).upstreams, traffic: latest?.traffic ?? [:],
            serverTraffic: latest?.servers,
            activeSessions: latest?.activeSessions ?? nil, alerts: await alerts?.alerts() ?? [],
            rollout: StatusReport.Rollout(canaryVersion: await rollouts.canaryVersion),
            history: Array(((try? await history.all()) ?? []).suffix(10)), state: await state.report(),
            tunnels: await balancer.openTunnels())
    }
}

struct ReadyBody: Codable {
    var ready: Bool
    var version: Int
    var store: String
    var error: String?
}

struct ProbeBody: Encodable {
    var ready: Bool
    var version: Int
    var reason: String?
}
