import AsyncHTTPClient
import BallastAPI
import BallastConfig
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Runs one scenario on a throwaway stack under load and scores it:
/// start the stack → load → warm up → inject → watch (alerts, events, users) → the on-call's
/// fix once detected → recovered → report, postmortem and chart.
package struct DrillRunner: Sendable {
    package var scenario: Scenario
    package var executable: URL
    package var out: URL
    package var users = 20
    package var warmup: Duration = .seconds(8)
    /// A PostgreSQL server for the scenarios that need one (`postgres-away`): the stack gets a
    /// schema of its own there, reached through a proxy the drill can cut.
    package var postgres: String?
    /// How long the drill waits for detection and recovery before giving up.
    package var limit: Duration = .seconds(90)
    package var progress: @Sendable (String) -> Void = { _ in }

    package init(scenario: Scenario, executable: URL, out: URL) {
        self.scenario = scenario
        self.executable = executable
        self.out = out
    }

    package func run() async throws -> DrillResult {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(2), read: .seconds(15)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-drill-\(scenario.name)-\(UUID().uuidString.prefix(8))")
        let stack = try DrillStack(executable: executable, directory: work, client: client)
        let context = DrillContext()
        do {
            let result = try await drill(stack, context)
            await cleanUp(stack, context, work: work, keep: false)
            try? await client.shutdown()
            return result
        } catch {
            await cleanUp(stack, context, work: work, keep: true)
            try? await client.shutdown()
            throw error
        }
    }

    private func cleanUp(_ stack: DrillStack, _ context: DrillContext, work: URL, keep: Bool) async {
        context.writeLock?.unlock()
        if let pid = context.pid { kill(pid, SIGCONT) }
        for task in context.tasks { task.cancel() }
        await stack.stop()
        await context.proxy?.stop()
        copyLogs(from: work)
        if keep {
            progress("the stack's files are kept in \(work.path)")
        } else {
            try? FileManager.default.removeItem(at: work)
        }
    }

    /// The stack's logs (the balancer's and each replica's) go beside the report, for the postmortem.
    private func copyLogs(from work: URL) {
        let logs = out.appendingPathComponent("logs")
        let files = FileManager.default
        for directory in [work, work.appendingPathComponent("data")] {
            for name in (try? files.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasSuffix(".log") {
                try? files.createDirectory(at: logs, withIntermediateDirectories: true)
                let target = logs.appendingPathComponent(name)
                try? files.removeItem(at: target)
                try? files.copyItem(at: directory.appendingPathComponent(name), to: target)
            }
        }
    }

    private func drill(_ stack: DrillStack, _ context: DrillContext) async throws -> DrillResult {
        progress("drill \(scenario.name): \(scenario.summary)")
        if scenario.needsPostgres {
            guard let postgres else {
                throw DrillError("\(scenario.name) needs a PostgreSQL server to cut off: pass --postgres-file FILE (a postgres:// URL) or set $BALLAST_DRILL_POSTGRES")
            }
            context.postgres = postgres
        }
        try await scenario.prepare(stack, context)
        try await stack.start()
        try await stack.waitAllHealthy(within: .seconds(30))
        progress("stack up: \(stack.publicURL) (dashboard \(stack.adminURL)); \(users) virtual users warming up for \(warmup)")
        let load = LoadGenerator(baseURL: stack.publicURL, users: users, client: stack.client)
        let loadTask = Task { await load.run() }
        defer { load.stop() }
        try await Task.sleep(for: warmup)
        let warm = load.totals
        guard warm.requests > 0, warm.failureRatio < 0.05 else {
            loadTask.cancel()
            throw DrillError("the stack was not healthy before the fault: \(warm.failed) of \(warm.requests) requests failed during warm-up")
        }
        var watch = Watch(scenario: scenario, faultSecond: load.now(), faultDate: Date())
        await stack.record("drill.started", "drill \(scenario.name) started: \(scenario.summary)")
        let injected = try await scenario.inject(stack, context)
        await stack.record("drill.fault_injected", injected, subject: scenario.name)
        progress(String(format: "+%5.1f s  fault: %@", 0.0, injected))
        let deadline = ContinuousClock.now + limit
        var lastPrint = -1
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            let now = load.now()
            let alerts = (try? await stack.adminReply(AdminReplies.Alerts.self, "/api/v1/alerts"))??.alerts ?? []
            let since = ISOTime.format(watch.faultDate.addingTimeInterval(-1))
            let events = (try? await stack.adminReply(AdminReplies.Events.self, "/api/v1/events?since=\(since)&limit=10000"))??.events ?? []
            watch.observe(alerts: alerts, events: events, now: now)
            if watch.detectedAt != nil, watch.fixedAt == nil, let fix = scenario.fix {
                let done = try await fix(stack, context)
                watch.fixedAt = load.now()
                await stack.record("drill.fault_cleared", done, subject: scenario.name)
                progress(String(format: "+%5.1f s  fix: %@", load.now() - watch.faultSecond, done))
            }
            if watch.restoredAt == nil, watch.fixedAt != nil, scenario.restoredBy.contains("stack:healthy"),
               let status = try? await stack.upstreamStatus(healthOnly: true), status.allHealthy {
                watch.restoredAt = load.now()
            }
            watch.checkRecovered(load: load, now: load.now())
            if Int(now - watch.faultSecond) != lastPrint {
                lastPrint = Int(now - watch.faultSecond)
                let second = load.finished(Int(now) - 1)
                progress(String(format: "+%5.1f s  users ok %d/s failed %d/s  ", now - watch.faultSecond, second.ok, second.failed)
                         + "alerts: \(watch.firingNow.isEmpty ? "none" : watch.firingNow.sorted().joined(separator: ", "))"
                         + (watch.detectedAt.map { String(format: "  detected +%.1f s by %@", $0 - watch.faultSecond, watch.detectedBy ?? "") } ?? "")
                         + (watch.recoveredAt.map { String(format: "  recovered +%.1f s", $0 - watch.faultSecond) } ?? ""))
            }
            if let recovered = watch.recoveredAt, now - recovered >= 5 { break }
        }
        load.stop()
        await loadTask.value
        let after = load.totals(from: Int(watch.faultSecond))
        await stack.record("drill.finished", "drill \(scenario.name) finished")
        var result = DrillResult(scenario: scenario, watch: watch, requests: after.requests, failed: after.failed,
                                 sessionsLost: after.sessionsLost)
        try await writeArtifacts(&result, stack: stack)
        return result
    }

    /// report.md, result.json, postmortem.md and timeline.svg in `out`: the incident's postmortem when one
    /// opened, else one for the drill's window.
    private func writeArtifacts(_ result: inout DrillResult, stack: DrillStack) async throws {
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let incidents = (try? await stack.adminReply(AdminReplies.Incidents.self, "/api/v1/incidents"))??.incidents ?? []
        let opened = incidents.first { $0.openedAt >= result.watch.faultDate.addingTimeInterval(-1) }
        let markdownPath: String
        let chartPath: String
        if let id = opened?.id {
            result.incident = id
            markdownPath = "/api/v1/incidents/\(id)/postmortem?chart=timeline.svg"
            chartPath = "/api/v1/incidents/\(id)/chart.svg"
        } else {
            // The window opens at detection (as an incident would) and closes at recovery.
            let watch = result.watch
            let date = { (second: Double) in watch.faultDate.addingTimeInterval(second - watch.faultSecond) }
            let from = ISOTime.format(watch.detectedAt.map(date) ?? watch.faultDate)
            let to = ISOTime.format(watch.recoveredAt.map(date) ?? Date())
            let title = "drill \(scenario.name)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? scenario.name
            let window = "from=\(from)&to=\(to)&title=\(title)"
            markdownPath = "/api/v1/postmortem?\(window)&chart=timeline.svg"
            chartPath = "/api/v1/postmortem/chart.svg?\(window)"
        }
        let markdown = try await stack.admin(.GET, markdownPath)
        let chart = try await stack.admin(.GET, chartPath)
        guard markdown.status == 200, chart.status == 200 else {
            throw DrillError("the stack did not draft the postmortem (\(markdown.status), \(chart.status))")
        }
        try markdown.body.write(to: out.appendingPathComponent("postmortem.md"))
        try chart.body.write(to: out.appendingPathComponent("timeline.svg"))
        try DrillReport(result: result).markdown().write(to: out.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
        try AdminJSON.encoder().encode(DrillSummary(result)).write(to: out.appendingPathComponent("result.json"))
    }
}
