import Foundation
import Yams

/// A runbook as a reviewed protocol: Markdown with front matter naming the alerts it serves,
/// its owner and the day it was last reviewed.
///
/// ```
/// ---
/// alerts: [UpstreamUnhealthy, HealthyShareFell]
/// owner: platform-oncall
/// reviewed: 2026-11-26
/// ---
/// ```
package struct Runbook: Sendable, Equatable {
    package var path: String
    package var alerts: [String]?
    package var owner: String?
    package var reviewed: Date?
    /// What went wrong reading the front matter, if anything.
    package var problem: String?
    package var body: String

    package init(path: String, text: String) {
        self.path = path
        body = text
        let lines = text.components(separatedBy: "\n")
        guard lines.first?.trimmingCharacters(in: .whitespaces) == "---",
              let end = lines.dropFirst().firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "---" }) else {
            problem = "it has no front matter (alerts, owner, reviewed between '---' lines)"
            return
        }
        body = lines[(end + 1)...].joined(separator: "\n")
        let yaml = lines[1..<end].joined(separator: "\n")
        guard let node = try? Yams.load(yaml: yaml) as? [String: Any] else {
            problem = "its front matter is not a YAML mapping"
            return
        }
        if let list = node["alerts"] as? [Any] { alerts = list.map { "\($0)" } }
        else if let one = node["alerts"] as? String { alerts = [one] }
        owner = (node["owner"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        switch node["reviewed"] {
        case let date as Date: reviewed = date
        case let text as String: reviewed = Self.day(text)
        default: reviewed = nil
        }
        var missing: [String] = []
        if alerts == nil { missing.append("alerts") }
        if owner == nil { missing.append("owner") }
        if reviewed == nil { missing.append("reviewed (YYYY-MM-DD)") }
        if !missing.isEmpty { problem = "its front matter lacks \(missing.joined(separator: ", "))" }
    }

    static func day(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.date(from: text)
    }

    /// Routes, upstreams and servers the body names: `upstream 'auth'`, ``route `api` ``,
    /// `upstream=auth`, and host:port addresses.
    package var namedTargets: (routes: Set<String>, upstreams: Set<String>, servers: Set<String>) {
        var routes: Set<String> = [], upstreams: Set<String> = [], servers: Set<String> = []
        let name = #"(route|upstream)(?:\s+['`"]|=)([A-Za-z0-9_.-]+)"#
        if let regex = try? NSRegularExpression(pattern: name) {
            let range = NSRange(body.startIndex..., in: body)
            for match in regex.matches(in: body, range: range) {
                guard let kind = Range(match.range(at: 1), in: body), let value = Range(match.range(at: 2), in: body) else { continue }
                if body[kind] == "route" { routes.insert(String(body[value])) } else { upstreams.insert(String(body[value])) }
            }
        }
        let address = #"\b(?:\d{1,3}\.){3}\d{1,3}:\d{1,5}\b"#
        if let regex = try? NSRegularExpression(pattern: address) {
            for match in regex.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                if let range = Range(match.range, in: body) { servers.insert(String(body[range])) }
            }
        }
        return (routes, upstreams, servers)
    }
}

/// BL044–BL048: runbooks kept as reviewed protocols. Run by `ballast check` and
/// `ballast docs --check`; they read files, so they have no YAML fixture.
package enum RunbookReview {
    /// Findings for the runbooks the config's alerts name, and for every other runbook in the
    /// same directories (a runbook whose alert is gone is found there). Shipped runbooks
    /// (`builtin:`) are reviewed with each release and speak of any stack, so they are not
    /// checked here. Relative paths are relative to `directory`, by default the config's own
    /// directory. `today` for tests.
    package static func check(_ config: Config, directory: String? = nil, today: Date = Date()) -> [Finding] {
        let directory = directory ?? config.baseDirectory
        let allowed = RunbookCheck.directories(config, base: directory)
        var findings: [Finding] = []
        let alertNames = Set(config.alerts.rules.map(\.name))
        var byPath: [String: Runbook] = [:]
        var directories: Set<String> = []
        var firstAlert: [String: (Int, AlertRule)] = [:]
        for (index, rule) in config.alerts.rules.enumerated() {
            guard !rule.runbook.hasPrefix("http://"), !rule.runbook.hasPrefix("https://"),
                  !rule.runbook.hasPrefix(ShippedRunbooks.scheme),
                  let path = RunbookCheck.resolve(rule.runbook, directory: directory, allowed: allowed) else { continue }
            directories.insert((path as NSString).deletingLastPathComponent)
            if firstAlert[path] == nil { firstAlert[path] = (index, rule) }
        }
        for folder in directories {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.hasSuffix(".md") {
                let path = "\(folder)/\(name)"
                if let text = try? String(contentsOfFile: path, encoding: .utf8) { byPath[path] = Runbook(path: path, text: text) }
            }
        }
        // Each alert's runbook must say it serves that alert.
        for (index, rule) in config.alerts.rules.enumerated() {
            guard let path = RunbookCheck.resolve(rule.runbook, directory: directory, allowed: allowed), let runbook = byPath[path],
                  let alerts = runbook.alerts, !alerts.contains(rule.name) else { continue }
            findings.append(Finding(
                rule: .runbookNotForAlert,
                message: "alert '\(rule.name)' points at \(rule.runbook), whose front matter does not list it (it serves \(alerts.joined(separator: ", ")))",
                at: config.location(of: "alerts.rules[\(index)].runbook") ?? config.location(of: "alerts"),
                fix: "add '\(rule.name)' to the runbook's `alerts:`, or point the alert at the runbook written for it"))
        }
        let servers = Set(config.upstreams.flatMap { $0.servers.map(\.address.description) }
                          + config.listeners.map(\.listen.description) + [config.admin.listen.description])
        let routes = Set(config.listeners.flatMap { $0.routes.map(\.name) })
        let upstreams = Set(config.upstreams.map(\.name))
        for path in byPath.keys.sorted() {
            let runbook = byPath[path]!
            let at = SourceLocation(file: path, line: 1, column: 1)
            let served = firstAlert[path] != nil
            if let problem = runbook.problem {
                // A Markdown file beside the runbooks that no alert uses and that has no front matter is not a runbook.
                if served || runbook.alerts != nil {
                    findings.append(Finding(rule: .runbookFrontMatter, message: "runbook \(path): \(problem)", at: at,
                                            fix: "start it with ---, alerts: [NAMES], owner: TEAM, reviewed: YYYY-MM-DD, ---"))
                }
                if runbook.alerts == nil { continue }
            }
            // A shipped runbook may serve default alerts this config does not raise (no TLS,
            // no certificate alert): it is kept for the day the config has them.
            let shipped = ShippedRunbooks.files[(path as NSString).lastPathComponent] != nil
            let gone = (runbook.alerts ?? []).filter { !alertNames.contains($0) && !(shipped && AlertsConfig.conditionalDefaults.contains($0)) }
            if !gone.isEmpty {
                findings.append(Finding(
                    rule: .runbookForMissingAlert,
                    message: "runbook \(path) serves \(gone.map { "'\($0)'" }.joined(separator: ", ")), which the config no longer has",
                    at: at, fix: "remove \(gone.count == 1 ? "it" : "them") from its `alerts:` (or delete the runbook), or restore the alert"))
            }
            let named = runbook.namedTargets
            var stale: [String] = []
            stale += named.routes.subtracting(routes).sorted().map { "route '\($0)'" }
            stale += named.upstreams.subtracting(upstreams).sorted().map { "upstream '\($0)'" }
            stale += named.servers.subtracting(servers).sorted().map { "server \($0)" }
            if !stale.isEmpty {
                findings.append(Finding(
                    rule: .runbookNamesMissingTarget,
                    message: "runbook \(path) names \(stale.joined(separator: ", ")), which the config does not have",
                    at: at, fix: "update the runbook to the config in force"))
            }
            if let reviewed = runbook.reviewed {
                let age = today.timeIntervalSince(reviewed)
                let limit = Double(config.runbookReviewInterval.milliseconds) / 1000
                if age > limit {
                    findings.append(Finding(
                        rule: .runbookReviewOverdue,
                        message: "runbook \(path) was last reviewed \(Int(age / 86_400)) days ago, beyond the review interval of \(config.runbookReviewInterval.configText)",
                        at: at, fix: "review it with its owner\(runbook.owner.map { " (\($0))" } ?? ""), then set `reviewed:` to today"))
                }
            }
        }
        return findings
    }
}
