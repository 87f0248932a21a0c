/// Retries with a zero budget never happen; retries with an unbounded budget multiply load on
/// a failing upstream (a retry storm).
struct RetriesWithoutBudget: LintRule {
    static let rule = Rule(id: "BL028", severity: .warning, title: "retries without a budget",
                           fix: "set `retries.budget_percent` between 5 and 50")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (r, route) in listener.routes.enumerated() where route.retries.attempts > 1 {
                let budget = route.retries.budgetPercent
                if budget == 0 || budget > 50 {
                    findings.append(finding(
                        budget == 0 ? "route '\(route.name)' allows retries with a budget of 0%, so none happen"
                                    : "route '\(route.name)' lets retries reach \(Int(budget))% of requests: a retry storm on a failing upstream",
                        at: "listeners[\(l)].routes[\(r)].retries.budget_percent", in: config))
                }
            }
        }
        return findings
    }
}
