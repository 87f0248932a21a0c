/// Status retries apply to idempotent requests only; on a route that takes only POST or
/// PATCH they never happen, which usually means the author expected them to.
struct StatusRetriesOnNonIdempotentRoute: LintRule {
    static let rule = Rule(id: "BL029", severity: .warning, title: "status retries on a non-idempotent route",
                           fix: "remove the statuses from `retries.on` (connect failures are still retried)")

    static let idempotent: Set<String> = ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (r, route) in listener.routes.enumerated() {
                guard let methods = route.match.methods, !methods.isEmpty, idempotent.isDisjoint(with: methods),
                      route.retries.on.contains(where: { if case .status = $0 { true } else { false } }) else { continue }
                findings.append(finding(
                    "route '\(route.name)' takes only \(methods.joined(separator: ", ")): a status is never retried for those",
                    at: "listeners[\(l)].routes[\(r)].retries.on", in: config))
            }
        }
        return findings
    }
}
