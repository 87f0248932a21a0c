import ArgumentParser
import BallastAPI
import BallastConfig
import BallastControl
import Foundation
import NIOHTTP1

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Upstreams, server health, traffic, sessions, firing alerts and recent config versions at a glance.",
        discussion: "Exit 0 when no page-level alert fires, 1 when one does.")

    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?
    @Option(help: "Output format: text or json (the admin API's status report; the exit code is the same).") var format: OutputFormat = .text

    func run() async throws {
        let client = AdminClient(admin: admin)
        let reply = try await client.send(.GET, "/api/v1/status")
        guard reply.status == 200 else {
            printError("error: the admin API answered \(reply.status)")
            throw ExitCode(1)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        let status = try decoder.decode(StatusReport.self, from: reply.body)
        switch format {
        case .text: for line in StatusText.render(status, admin: client.base) { say(line) }
        case .json: try printJSON(status)
        }
        if status.alerts.contains(where: { $0.state == .firing && $0.severity == .page }) || !status.disagreements.isEmpty
            || status.state?.reachable == false {
            throw ExitCode(1)
        }
    }
}

enum StatusText {
    static func render(_ status: StatusReport, admin: String, now: Date = Date()) -> [String] {
        var lines: [String] = []
        let rollout = status.rollout.canaryVersion.map { "canary v\($0) being watched" } ?? "no rollout running"
        lines.append("Ballast at \(admin): config v\(status.version), \(rollout)")
        lines.append("active sessions: \(status.activeSessions.map { String(Int($0.rounded())) } ?? "no data")")
        if let state = status.state {
            lines.append("state: \(state.store) as \(state.instance), " + (state.reachable ? "reachable" : "UNREACHABLE: \(state.error ?? "")"))
            if state.balancers.count > 1 || !status.disagreements.isEmpty {
                let latest = state.latestVersion.map { "v\($0)" } ?? "none"
                lines.append(status.disagreements.isEmpty
                    ? "balancers: \(state.balancers.count), all on the newest version \(latest)"
                    : "balancers DISAGREE: the newest applied version is \(latest)")
                for balancer in state.balancers {
                    let mark = balancer.version == state.latestVersion ? "=" : "≠"
                    lines.append("  \(mark) \(balancer.id) (\(balancer.admin)) runs v\(balancer.version)"
                        + (balancer.note.map { ": \($0)" } ?? ""))
                }
            }
        }
        if let tunnels = status.tunnels, !tunnels.isEmpty {
            lines.append("tunnels open: " + tunnels.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        for upstream in status.upstreams {
            let traffic = status.traffic[upstream.name]
            let healthy = upstream.servers.count { $0.healthy && !$0.ejected }
            lines.append("")
            lines.append("upstream \(upstream.name) (\(upstream.balance)): \(healthy)/\(upstream.servers.count) servers healthy, "
                + "\(rate(traffic?.requestsPerSecond)), 5xx \(percent(traffic?.errorRatio)), p99 \(latency(traffic?.p99Seconds))")
            for server in upstream.servers {
                let state = server.ejected ? "EJECTED" : (server.healthy ? "up" : "DOWN")
                let numbers = status.serverTraffic?[upstream.name]?[server.address].map {
                    "  \(rate($0.requestsPerSecond)), errors \(percent($0.errorRatio)), p99 \(latency($0.p99Seconds))"
                } ?? ""
                lines.append("  \(server.ejected ? "◐" : (server.healthy ? "●" : "○")) \(server.address)  \(state)  weight \(server.weight)\(numbers)")
            }
        }
        let firing = status.alerts.filter { $0.state == .firing }
        let pending = status.alerts.filter { $0.state == .pending }
        lines.append("")
        lines.append(firing.isEmpty ? "alerts: none firing (\(status.alerts.count) rules)" : "alerts: \(firing.count) FIRING")
        for alert in firing {
            let since = alert.firingSince.map { " for \(Int(now.timeIntervalSince($0)))s" } ?? ""
            lines.append("  FIRING \(alert.severity.rawValue) \(alert.name)\(scope(alert))\(since): \(alert.summary) (now \(alert.value))")
            lines.append("         runbook: \(alert.runbook)")
        }
        for alert in pending {
            lines.append("  pending \(alert.name)\(scope(alert)): \(alert.condition) (now \(alert.value))")
        }
        if !status.history.isEmpty {
            lines.append("")
            lines.append("config versions:")
            let formatter = DateFormatter()
            formatter.dateFormat = "HH:mm:ss"
            for entry in status.history.suffix(5).reversed() {
                lines.append("  v\(entry.version) \(formatter.string(from: entry.appliedAt)) by \(entry.author): \(entry.outcome)")
            }
        }
        return lines
    }

    private static func scope(_ alert: AlertStatus) -> String {
        alert.labels["route"].map { " route=\($0)" } ?? alert.labels["upstream"].map { " upstream=\($0)" } ?? ""
    }

    private static func rate(_ value: Double?) -> String { value.map { String(format: "%.1f req/s", $0) } ?? "no traffic" }
    private static func percent(_ value: Double?) -> String { value.map { String(format: "%.2f%%", $0 * 100) } ?? "–" }
    private static func latency(_ value: Double?) -> String {
        guard let value else { return "–" }
        return value < 1 ? "\(Int((value * 1000).rounded())) ms" : String(format: "%.2f s", value)
    }
}
