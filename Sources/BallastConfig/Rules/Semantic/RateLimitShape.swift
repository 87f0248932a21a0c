/// A rate limit whose burst contradicts its rate: too small, so a client far below the rate is
/// refused when two requests arrive together; or so large that the limit never bites.
struct RateLimitShape: LintRule {
    static let rule = Rule(id: "BL058", severity: .warning, title: "a rate limit whose burst defeats its rate",
                           fix: "set `burst` between one second and one minute of the rate (the default is one second)")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (r, route) in listener.routes.enumerated() {
                guard let limit = route.rateLimit else { continue }
                let perSecond = limit.perClient.perSecond
                let at = "listeners[\(l)].routes[\(r)].rate_limit.burst"
                if perSecond >= 2, Double(limit.burst) < perSecond.rounded(.down) {
                    findings.append(finding(
                        "route '\(route.name)' allows \(limit.perClient) per client but a burst of \(limit.burst): a client that sends \(limit.burst + 1) requests at the same moment gets 429, though it is far below the rate",
                        at: at, in: config))
                } else if Double(limit.burst) > perSecond * 60, Double(limit.burst) > 1 {
                    let minutes = Double(limit.burst) / (perSecond * 60)
                    findings.append(finding(
                        "route '\(route.name)' allows \(limit.perClient) per client but a burst of \(grouped(limit.burst)): a client may send \(grouped(limit.burst)) requests at once (\(plain(minutes.rounded())) minutes of the rate) before the limit applies, so an attacker is not slowed",
                        at: at, in: config))
                }
            }
        }
        return findings
    }
}
