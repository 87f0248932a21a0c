import BallastAPI
import Foundation

/// The postmortem's chart as a standalone SVG: the 5xx share of requests per second (red,
/// left axis) and healthy servers (green, right axis) over the incident, with its events
/// marked as labelled vertical lines.
package struct IncidentChart: Sendable {
    package var record: IncidentRecord
    let width = 900.0
    let height = 360.0
    let left = 60.0, right = 60.0, top = 40.0, bottom = 110.0

    package init(record: IncidentRecord) { self.record = record }

    /// Events worth a marker.
    static let marked: Set<String> = [
        "incident.opened", "incident.closed", "alert.firing", "alert.resolved", "config.applied", "rollout.canary_started",
        "rollout.rolled_back", "rollout.promoted", "server.down", "server.up", "server.ejected", "replica.exited", "drill.fault_injected",
        "drill.fault_cleared",
    ]

    package func svg() -> String {
        let vitals = record.vitals
        let facts = PostmortemFacts(record)
        let from = (vitals.first?.at ?? facts.start.addingTimeInterval(-IncidentRecord.lead)).timeIntervalSince1970
        let to = max((vitals.last?.at ?? record.readAt).timeIntervalSince1970, from + 1)
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        func x(_ t: Double) -> Double { left + (t - from) / (to - from) * plotWidth }
        // Error share per second, from the cumulative counters.
        var errorPoints: [(Double, Double)] = []
        for (previous, current) in zip(vitals, vitals.dropFirst()) {
            let requests = current.requests - previous.requests
            let errors = current.errors - previous.errors
            errorPoints.append((current.at.timeIntervalSince1970, requests > 0 ? min(1, max(0, errors / requests)) : 0))
        }
        let servers = max(1, vitals.map(\.servers).max() ?? 1)
        let healthyPoints = vitals.compactMap { v in v.healthyServers.map { (v.at.timeIntervalSince1970, $0) } }
        func yError(_ share: Double) -> Double { top + plotHeight * (1 - share) }
        func yHealthy(_ count: Double) -> Double { top + plotHeight * (1 - count / Double(servers)) }

        var out: [String] = []
        out.append(##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" viewBox="0 0 \##(Int(width)) \##(Int(height))" font-family="sans-serif" font-size="11">"##)
        out.append(##"<title>\##(Self.escape(record.incident.title)): error rate and healthy servers</title>"##)
        out.append(##"<rect width="100%" height="100%" fill="#ffffff"/>"##)
        out.append(##"<text x="\##(left)" y="20" font-size="14" font-weight="bold">\##(Self.escape(record.incident.id > 0 ? "Incident \(record.incident.id): " : ""))\##(Self.escape(record.incident.title))</text>"##)
        // The incident window, shaded.
        let windowStart = x(max(from, facts.start.timeIntervalSince1970))
        let windowEnd = x(min(to, (facts.resolution ?? record.readAt).timeIntervalSince1970))
        out.append(##"<rect class="incident" x="\##(Self.f(windowStart))" y="\##(top)" width="\##(Self.f(max(1, windowEnd - windowStart)))" height="\##(plotHeight)" fill="#fdecea"/>"##)
        // Axes and grid.
        out.append(##"<rect x="\##(left)" y="\##(top)" width="\##(plotWidth)" height="\##(plotHeight)" fill="none" stroke="#999"/>"##)
        for step in 0...4 {
            let share = Double(step) / 4
            let y = yError(share)
            out.append(##"<line x1="\##(left)" x2="\##(left + plotWidth)" y1="\##(Self.f(y))" y2="\##(Self.f(y))" stroke="#eee"/>"##)
            out.append(##"<text x="\##(left - 6)" y="\##(Self.f(y + 4))" text-anchor="end" fill="#c62828">\##(Int(share * 100))%</text>"##)
            out.append(##"<text x="\##(left + plotWidth + 6)" y="\##(Self.f(y + 4))" fill="#2e7d32">\##(Self.f(Double(servers) * share))</text>"##)
        }
        out.append(##"<text x="12" y="\##(top + plotHeight / 2)" fill="#c62828" transform="rotate(-90 12 \##(top + plotHeight / 2))" text-anchor="middle">5xx share</text>"##)
        out.append(##"<text x="\##(width - 12)" y="\##(top + plotHeight / 2)" fill="#2e7d32" transform="rotate(90 \##(width - 12) \##(top + plotHeight / 2))" text-anchor="middle">healthy servers</text>"##)
        let span = to - from
        for step in 0...5 {
            let t = from + span * Double(step) / 5
            out.append(##"<text x="\##(Self.f(x(t)))" y="\##(top + plotHeight + 14)" text-anchor="middle" fill="#555">\##(PostmortemRenderer.time(Date(timeIntervalSince1970: t), full: false).prefix(8))</text>"##)
        }
        // Series.
        out.append(polyline(errorPoints.map { (x($0.0), yError($0.1)) }, color: "#c62828", name: "error-rate"))
        out.append(polyline(healthyPoints.map { (x($0.0), yHealthy($0.1)) }, color: "#2e7d32", name: "healthy-servers"))
        // Event markers, labels staggered so neighbours do not overlap.
        var row = 0
        var lastX = -1000.0
        for event in record.events where Self.marked.contains(event.kind) {
            let t = event.at.timeIntervalSince1970
            guard t >= from, t <= to else { continue }
            let ex = x(t)
            row = ex - lastX < 90 ? (row + 1) % 5 : 0
            lastX = ex
            let color = event.kind.hasPrefix("alert.firing") || event.kind == "incident.opened" ? "#c62828"
                : event.kind.hasPrefix("config.") || event.kind.hasPrefix("rollout.") ? "#1565c0" : "#555"
            let labelY = top + plotHeight + 30 + Double(row) * 14
            out.append(##"<g class="event" data-kind="\##(event.kind)"><line x1="\##(Self.f(ex))" x2="\##(Self.f(ex))" y1="\##(top)" y2="\##(Self.f(labelY - 10))" stroke="\##(color)" stroke-dasharray="3,3"/><text x="\##(Self.f(ex + 2))" y="\##(Self.f(labelY))" fill="\##(color)">\##(Self.escape(Self.label(event)))</text></g>"##)
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    private func polyline(_ points: [(Double, Double)], color: String, name: String) -> String {
        let text = points.map { "\(Self.f($0.0)),\(Self.f($0.1))" }.joined(separator: " ")
        return ##"<polyline class="\##(name)" data-points="\##(points.count)" points="\##(text)" fill="none" stroke="\##(color)" stroke-width="2"/>"##
    }

    static func label(_ event: TimelineEvent) -> String {
        let subject = event.subject.map { " " + $0.split(separator: " ").first.map(String.init)! } ?? ""
        return String((event.kind + subject).prefix(40))
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
