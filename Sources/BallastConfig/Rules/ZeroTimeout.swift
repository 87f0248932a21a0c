/// A zero timeout fails every request (or probe) at once. Timeouts left out take the
/// documented defaults (connect 1s, response 15s, health 1s every 2s), so only zero is a finding.
struct ZeroTimeout: LintRule {
    static let rule = Rule(id: "BL041", severity: .error, title: "zero timeout",
                           fix: "use a positive duration such as 1s, or leave the key out for the default")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (key, value) in [("client_header", listener.timeouts.clientHeader), ("idle", listener.timeouts.idle), ("stall", listener.timeouts.stall)] where value == .zero {
                findings.append(finding("timeout '\(key)' of listener '\(listener.name)' is zero", at: "listeners[\(l)].timeouts.\(key)", in: config))
            }
            for (r, route) in listener.routes.enumerated() {
                for (key, value) in [("connect", route.timeouts.connect), ("response", route.timeouts.response)] where value == .zero {
                    findings.append(finding("timeout '\(key)' of route '\(route.name)' is zero",
                                            at: "listeners[\(l)].routes[\(r)].timeouts.\(key)", in: config))
                }
            }
        }
        for (i, upstream) in config.upstreams.enumerated() {
            guard let health = upstream.health else { continue }
            for (key, value) in [("interval", health.interval), ("timeout", health.timeout)] where value == .zero {
                findings.append(finding("health '\(key)' of upstream '\(upstream.name)' is zero", at: "upstreams[\(i)].health.\(key)", in: config))
            }
        }
        return findings
    }
}
