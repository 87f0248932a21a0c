/// Without an active health check a dead server is only noticed by failing real requests.
struct NoHealthCheck: LintRule {
    static let rule = Rule(id: "BL020", severity: .warning, title: "upstream without a health check",
                           fix: "add `health: { path: /healthz }`")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            upstream.health == nil
                ? finding("upstream '\(upstream.name)' has no health check", at: "upstreams[\(i)].name", in: config) : nil
        }
    }
}
