/// Paging alerts with nowhere to go: no log line and no webhook. They fire on the timeline and
/// the dashboard, where nobody looks at 3 a.m.
struct AlertsTellNobody: LintRule {
    static let rule = Rule(id: "BL064", severity: .warning, title: "paging alerts that tell nobody",
                           fix: "add a webhook under `alerts.notify.webhooks` (a pager, a chat), or keep `alerts.notify.log: true` and ship the log")

    static func check(_ config: Config) -> [Finding] {
        let notify = config.alerts.notify
        let paging = config.alerts.rules.filter { $0.severity == .page }
        guard !paging.isEmpty, !notify.log, notify.webhooks.isEmpty else { return [] }
        let names = paging.prefix(3).map { "'\($0.name)'" }.joined(separator: ", ") + (paging.count > 3 ? " and \(paging.count - 3) more" : "")
        return [finding(
            "alerts.notify has no webhook and the log is off: paging alerts (\(names)) fire only on the timeline and the dashboard, so nobody is paged",
            at: "alerts.notify.log", in: config)]
    }
}
