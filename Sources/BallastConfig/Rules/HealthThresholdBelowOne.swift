/// `healthy_after: 0` would call a server healthy without a single passing probe, and
/// `unhealthy_after: 0` down without a single failure.
struct HealthThresholdBelowOne: LintRule {
    static let rule = Rule(id: "BL040", severity: .error, title: "health threshold below 1",
                           fix: "use at least 1 (2 and 3 are usual)")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (i, upstream) in config.upstreams.enumerated() {
            guard let health = upstream.health else { continue }
            for (key, value) in [("healthy_after", health.healthyAfter), ("unhealthy_after", health.unhealthyAfter)] where value < 1 {
                findings.append(finding("'\(key)' of upstream '\(upstream.name)' is \(value): a server would flip without any probe",
                                        at: "upstreams[\(i)].health.\(key)", in: config))
            }
        }
        return findings
    }
}
