/// A probe that may take longer than the interval overlaps the next one.
struct HealthTimeoutNotBelowInterval: LintRule {
    static let rule = Rule(id: "BL021", severity: .error, title: "health timeout not below the interval",
                           fix: "make `health.timeout` shorter than `health.interval`")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            guard let health = upstream.health, health.timeout >= health.interval else { return nil }
            return finding("health timeout \(health.timeout.configText) of upstream '\(upstream.name)' is not below its interval \(health.interval.configText)",
                           at: "upstreams[\(i)].health.timeout", in: config)
        }
    }
}
