import BallastAPI
import Foundation

/// The drill's report in Markdown: scores against targets, then what happened when.
package struct DrillReport: Sendable {
    package var result: DrillResult

    package init(result: DrillResult) { self.result = result }

    package func markdown() -> String {
        let scenario = result.scenario
        let watch = result.watch
        var out = ["# Drill report: \(scenario.name)", "", scenario.summary + ".", ""]
        out.append("**\(result.passed ? "Passed" : "Missed")**: \(result.scores.filter(\.met).count) of \(result.scores.count) scores met.")
        out.append("")
        out.append("| score | value | target | |")
        out.append("|---|---|---|---|")
        for score in result.scores { out.append("| \(score.name) | \(score.value) | \(score.target) | \(score.met ? "met" : "**missed**") |") }
        out.append("")
        out.append("## What happened")
        out.append("")
        out.append("Times are seconds after the fault (\(watch.faultDate.formatted(.iso8601))).")
        out.append("")
        for (name, at) in watch.seen.filter({ $0.key != "alert:*" }).sorted(by: { $0.value < $1.value }) {
            out.append(String(format: "- +%.1f s: %@", max(0, at - watch.faultSecond), name))
        }
        if let fixed = watch.fixedAt { out.append(String(format: "- +%.1f s: the drill applied the on-call's fix", fixed - watch.faultSecond)) }
        if let restored = watch.restoredAt { out.append(String(format: "- +%.1f s: the stack was whole again", restored - watch.faultSecond)) }
        if let recovered = watch.recoveredAt { out.append(String(format: "- +%.1f s: users saw no failure for 3 s (recovered)", recovered - watch.faultSecond)) }
        out.append("")
        out.append("Detected by: \(result.watch.detectedBy ?? "nothing"). Runbooks the alerts named: \(watch.runbooks.isEmpty ? "none" : watch.runbooks.sorted().joined(separator: ", ")).")
        if let runbook = scenario.runbook { out.append("The runbook for this fault: \(runbook).") }
        out.append("")
        out.append(result.incident.map { "Incident \($0) was opened; its postmortem draft is in postmortem.md, chart in timeline.svg." }
                   ?? "No page alert opened an incident; postmortem.md drafts the drill's window, chart in timeline.svg.")
        out.append("")
        out.append("Definitions: *time to detect* runs from the fault to the first of \(scenario.detectors.joined(separator: ", ")); *time to recover* from the fault to the start of the first 3 s without a failed request once the stack was whole again (\(scenario.restoredBy.map { $0 == "drill" ? "the drill's fix" : $0 == "stack:healthy" ? "every server healthy again after the fix" : $0 }.joined(separator: " or "))). Requests are counted from the fault to the end of the drill.")
        return out.joined(separator: "\n") + "\n"
    }

    /// One line per score, for the terminal.
    package func summary() -> String {
        result.scores.map { "  \($0.met ? "met   " : "MISSED") \($0.name): \($0.value) (target \($0.target))" }.joined(separator: "\n")
    }
}
