import BallastAPI
import BallastConfig
import BallastProxy
import Foundation

/// Drafts a postmortem in the seed's structure (overview and impact, timeline, root cause and
/// resolution, corrective measures) from an incident record. What the record cannot know is
/// marked **Needs a human** instead of being guessed.
package struct PostmortemRenderer: Sendable {
    package var record: IncidentRecord
    /// The file name of the chart, linked from the draft (written beside it).
    package var chartName: String?

    package init(record: IncidentRecord, chartName: String? = nil) {
        self.record = record
        self.chartName = chartName
    }

    package func markdown() -> String {
        let facts = PostmortemFacts(record)
        let incident = record.incident
        var out: [String] = []
        let name = incident.id > 0 ? "Incident \(incident.id)" : incident.title
        out.append("# Postmortem draft: \(name)\(incident.id > 0 ? " — \(incident.title)" : "")")
        out.append("")
        out.append("_Drafted by Ballast from the recorded timeline at \(Self.time(record.readAt, full: true)). Figures come from the record; sections marked **Needs a human** need one._")
        out.append("")
        out.append("## Overview")
        out.append("")
        out.append("| | time (UTC) | after start |")
        out.append("|---|---|---:|")
        out.append("| impact started | \(Self.time(facts.start, full: true)) | 0 s |")
        out.append("| detected | \(Self.time(facts.detection, full: true)) | \(Self.seconds(facts.timeToDetect)) |")
        out.append("| mitigated | \(facts.mitigation.map { Self.time($0, full: true) } ?? "not yet") | \(facts.timeToMitigate.map(Self.seconds) ?? "–") |")
        out.append("| resolved | \(facts.resolution.map { Self.time($0, full: true) } ?? "still open") | \(facts.timeToResolve.map(Self.seconds) ?? "–") |")
        out.append("")
        out.append("- **Time to detect** \(Self.seconds(facts.timeToDetect)), **to mitigate** \(facts.timeToMitigate.map(Self.seconds) ?? "–"), **to resolve** \(facts.timeToResolve.map(Self.seconds) ?? "– (still open)").")
        let share = facts.requests > 0 ? String(format: " (%.2f%%)", Double(facts.failedRequests) * 100 / Double(facts.requests)) : ""
        out.append("- **Requests failed**: \(facts.failedRequests) of \(facts.requests)\(share) answered 5xx by the balancer between start and resolution.")
        if let before = facts.sessionsBefore {
            let lowest = facts.sessionsLowest.map(String.init) ?? "?"
            let end = facts.sessionsAtEnd.map(String.init) ?? "?"
            out.append("- **Sessions**: \(before) active before, lowest \(lowest), \(end) at the end; **\(facts.sessionsLost ?? 0) lost**.")
        } else {
            out.append("- **Sessions**: not measured (no auth replica was scraped).")
        }
        if let lowest = facts.healthyServersLowest {
            out.append("- **Healthy servers**: lowest \(lowest) of \(facts.servers).")
        }
        if let closeReason = incident.closeReason { out.append("- Closed without its alerts resolving: \(closeReason).") }
        if let chartName {
            out.append("")
            out.append("![Error rate and healthy servers over the incident, with its events marked](\(chartName))")
        }
        out.append("")
        out.append("## What changed before it")
        out.append("")
        if record.changes.isEmpty {
            out.append("No config change or rollout in the hour before the incident.")
        } else {
            for change in record.changes {
                let before = incident.openedAt.timeIntervalSince(change.at)
                out.append("- \(Self.time(change.at, full: false)) (\(Self.seconds(before)) before detection) `\(change.kind)` \(change.subject.map { "\($0): " } ?? "")\(change.message)")
                if let diff = change.details?["diff"], !diff.isEmpty {
                    out.append("")
                    out.append("  ```text")
                    for line in diff.split(separator: "\n", omittingEmptySubsequences: false) { out.append("  \(line)") }
                    out.append("  ```")
                }
            }
        }
        out.append("")
        out.append("## Timeline")
        out.append("")
        out.append("| time (UTC) | from start | source | event |")
        out.append("|---|---:|---|---|")
        for event in record.events {
            let offset = event.at.timeIntervalSince(facts.start)
            out.append("| \(Self.time(event.at, full: false)) | \(offset >= 0 ? "+" : "")\(String(format: "%.1f", offset)) s | \(event.source) | `\(event.kind)` \(Self.cell(event.message)) |")
        }
        if let failed = record.failedRequests {
            out.append("")
            out.append(contentsOf: failedRequestsSection(failed))
        }
        out.append("")
        out.append("## Alerts and runbooks")
        out.append("")
        let firings = record.events.filter { $0.kind == "alert.firing" }
        if firings.isEmpty {
            out.append("No alert fired in this window.")
        } else {
            out.append("| alert | severity | fired | resolved | runbook |")
            out.append("|---|---|---|---|---|")
            for firing in firings {
                let resolved = record.events.first { $0.kind == "alert.resolved" && $0.subject == firing.subject && $0.at >= firing.at }
                out.append("| \(firing.subject ?? "?") | \(firing.details?["severity"] ?? "?") | \(Self.time(firing.at, full: false)) | \(resolved.map { Self.time($0.at, full: false) } ?? "–") | \(firing.details?["runbook"] ?? "–") |")
            }
        }
        out.append("")
        out.append("## Root cause and resolution")
        out.append("")
        out.append("**Needs a human.** What the record shows:")
        out.append("")
        for line in evidence(facts) { out.append("- \(line)") }
        out.append("")
        out.append("## Corrective measures")
        out.append("")
        out.append("**Needs a human**: owners and dates. Starting points from the record:")
        out.append("")
        for line in measures(facts) { out.append("- [ ] \(line)") }
        out.append("")
        out.append("## Definitions")
        out.append("")
        out.append("- *Impact started*: the first failed request or unhealthy server of the run of trouble that leads into the detection (gaps under 10 s join a run, at most 2 minutes back); the detection itself when nothing showed before it.")
        out.append("- *Detected*: the page alert that opened the incident fired (for a drill without an incident: the first alert or rollback).")
        out.append("- *Mitigated*: a rollback, or the first moment after detection from which no request failed for 5 s, whichever came first.")
        out.append("- *Resolved*: the last alert of the incident resolved.")
        out.append("- *Time to detect / mitigate / resolve*: each of those minus the start.")
        out.append("- *Requests failed*: 5xx answers of the balancer between start and resolution. *Sessions lost*: active sessions before the start minus those at resolution.")
        return out.joined(separator: "\n") + "\n"
    }

    private func evidence(_ facts: PostmortemFacts) -> [String] {
        var lines: [String] = []
        if let change = record.changes.last {
            let gap = facts.start.timeIntervalSince(change.at)
            lines.append("The last change before the impact: `\(change.kind)` \(change.subject ?? "") at \(Self.time(change.at, full: false)), \(Self.seconds(max(0, gap))) \(gap >= 0 ? "before" : "after") the impact started. Check it first.")
        } else {
            lines.append("No config change preceded the incident; look at the servers and their dependencies.")
        }
        let downs = record.events.filter { ["server.down", "server.ejected", "replica.exited"].contains($0.kind) }
        if let first = downs.first {
            lines.append("\(downs.count) server event(s); the first: \(first.message).")
        }
        if let rollback = record.events.first(where: { $0.kind == "rollout.rolled_back" }) {
            lines.append("Resolution by automatic rollback: \(rollback.message).")
        }
        if let first = record.events.first(where: { $0.kind == "alert.firing" }) {
            lines.append("The first alert was \(first.subject ?? "?"); its runbook is \(first.details?["runbook"] ?? "not named").")
        }
        return lines
    }

    private func measures(_ facts: PostmortemFacts) -> [String] {
        var lines: [String] = []
        if !record.changes.isEmpty {
            lines.append("Could `ballast check --preflight` or a stricter rule have refused the change? Add the rule or fixture that would have.")
        }
        if facts.timeToDetect > 5 { lines.append("Detection took \(Self.seconds(facts.timeToDetect)): tighten the alert that should have fired first.") }
        if facts.failedRequests > 0 { lines.append("\(facts.failedRequests) requests failed: review retries, the canary share and the rollback thresholds.") }
        if (facts.sessionsLost ?? 0) > 0 { lines.append("\(facts.sessionsLost ?? 0) sessions were lost: find out why sessions did not survive.") }
        lines.append("Run the matching `ballast drill` scenario with the team, and update the runbook with what was learned.")
        return lines
    }

    static func time(_ date: Date, full: Bool) -> String {
        let text = ISOTime.format(date)  // 2026-11-26T09:28:43.123Z
        return full ? text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
                    : String(text.split(separator: "T").last ?? "").replacingOccurrences(of: "Z", with: "")
    }

    static func seconds(_ value: TimeInterval) -> String {
        value < 120 ? String(format: "%.1f s", value) : IncidentBook.duration(value)
    }

    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    /// The requests that failed in the window: counts by status and server, then the first
    /// ones with the ids that find them in the access log and in traces.
    static let failedShown = 20

    func failedRequestsSection(_ failed: [FailedRequest]) -> [String] {
        var out = ["## Requests that failed", ""]
        guard !failed.isEmpty else {
            out.append("This balancer answered no request with a 5xx in the window (it keeps the newest \(FailedRequestRing.capacity) of each event loop since it started).")
            return out
        }
        let byStatus = Dictionary(grouping: failed, by: \.status).sorted { $0.key < $1.key }.map { "\($0.value.count) × \($0.key)" }
        let byServer = Dictionary(grouping: failed) { $0.server ?? "no server" }.sorted { $0.value.count > $1.value.count }
            .map { "\($0.key) \($0.value.count)" }
        out.append("\(failed.count) request\(failed.count == 1 ? "" : "s") answered with a 5xx: \(byStatus.joined(separator: ", ")); by the server that answered last: \(byServer.joined(separator: ", ")).")
        out.append("Find each in the access log by its `request_id`, and in traces by its `trace_id`.")
        out.append("")
        out.append("| time (UTC) | route | server | status | request | request_id | trace_id |")
        out.append("|---|---|---|---:|---|---|---|")
        for request in failed.prefix(Self.failedShown) {
            out.append("| \(Self.time(request.at, full: false)) | \(Self.cell(request.route)) | \(request.server ?? "–") | \(request.status) | \(Self.cell("\(request.method) \(request.path)")) | `\(request.requestID)` | \(request.traceID.map { "`\($0)`" } ?? "–") |")
        }
        if failed.count > Self.failedShown {
            out.append("")
            out.append("\(failed.count - Self.failedShown) more in `GET /api/v1/incidents/\(record.incident.id > 0 ? String(record.incident.id) : "ID")` (`failedRequests`).")
        }
        return out
    }
}
