/// A recovered server kept out of rotation for minutes: `healthy_after × interval`.
struct SlowRecovery: LintRule {
    static let rule = Rule(id: "BL053", severity: .warning, title: "a recovered server waits long to come back",
                           fix: "keep `health.healthy_after × health.interval` at 60s or below (the default is 2 × 2s)")

    static let longest: Duration = .seconds(60)

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            guard let health = upstream.health, health.recovery > longest else { return nil }
            let path = "upstreams[\(i)].health"
            // Point at the factor that is out of the ordinary.
            let key = health.healthyAfter > HealthCheck().healthyAfter || !config.wrote("\(path).interval") ? "healthy_after" : "interval"
            return finding(
                "a recovered server of upstream '\(upstream.name)' waits \(health.recovery.spoken) (healthy_after \(health.healthyAfter) × interval \(health.interval.configText)) before it gets traffic again; meanwhile the others carry its share",
                at: "\(path).\(key)", in: config)
        }
    }
}
