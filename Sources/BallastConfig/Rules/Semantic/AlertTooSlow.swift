/// A paging alert that waits minutes before it pages: the outage Ballast answers was paged
/// after 5 minutes, and the users saw all of them.
struct AlertTooSlow: LintRule {
    static let rule = Rule(id: "BL062", severity: .warning, title: "a paging alert that waits minutes",
                           fix: "keep `for` of a paging alert at 5m or below; let a burn-rate rule (`slo:`) judge slow problems")

    static let longest: Duration = .seconds(300)

    static func check(_ config: Config) -> [Finding] {
        guard config.alertsGiven else { return [] }
        return config.alerts.rules.enumerated().compactMap { i, rule in
            guard rule.severity == .page, rule.forDuration > longest else { return nil }
            return finding(
                "alert '\(rule.name)' pages only after its condition has held for \(rule.forDuration.spoken): the users see all of that before anyone is told",
                at: "alerts.rules[\(i)].for", in: config)
        }
    }
}
