/// Requests given less time than the health check gives a probe time out on servers the
/// health check still calls healthy.
struct ResponseTimeoutBelowHealthTimeout: LintRule {
    static let rule = Rule(id: "BL026", severity: .warning, title: "response timeout shorter than the health timeout",
                           fix: "give requests at least as long as health probes")

    static func check(_ config: Config) -> [Finding] {
        let index = upstreamIndex(config)
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (r, route) in listener.routes.enumerated() {
                guard let i = index[route.upstream], let health = config.upstreams[i].health,
                      route.timeouts.response < health.timeout else { continue }
                findings.append(finding(
                    "route '\(route.name)' waits \(route.timeouts.response.configText) for a response, less than the \(health.timeout.configText) health timeout of '\(route.upstream)'",
                    at: "listeners[\(l)].routes[\(r)].timeouts.response", in: config))
            }
        }
        return findings
    }
}
