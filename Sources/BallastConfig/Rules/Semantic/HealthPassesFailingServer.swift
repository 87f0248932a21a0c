/// A health check that expects a server error or an informational status: a failing server
/// passes it, a working one fails it.
struct HealthPassesFailingServer: LintRule {
    static let rule = Rule(id: "BL060", severity: .warning, title: "a health check that expects a failure",
                           fix: "expect the status a working server answers, usually 200")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            guard let health = upstream.health, health.expectStatus >= 500 || health.expectStatus < 200 else { return nil }
            let what = health.expectStatus >= 500
                ? "a server that fails with \(health.expectStatus) counts as healthy and a working one as down"
                : "no server answers a finished request with \(health.expectStatus), so every server counts as down"
            return finding("upstream '\(upstream.name)' expects \(health.expectStatus) from \(health.path): \(what)",
                           at: "upstreams[\(i)].health.expect_status", in: config)
        }
    }
}
