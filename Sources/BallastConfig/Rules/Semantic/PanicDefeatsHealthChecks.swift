/// A panic threshold so high that one server down puts the upstream in panic, where the
/// balancer sends to every server, the dead one too: health checks stop protecting requests
/// exactly when they matter.
struct PanicDefeatsHealthChecks: LintRule {
    static let rule = Rule(id: "BL059", severity: .warning, title: "a panic threshold that one failure crosses",
                           fix: "keep `panic_threshold_percent` at 50 or below (Envoy's default)")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            let serving = upstream.servers.count { $0.weight > 0 }
            // The balancer panics when available × 100 < threshold × serving (Balancer.pick).
            guard serving > 1, (serving - 1) * 100 < Int((upstream.panicThresholdPercent * Double(serving)).rounded(.up)) else { return nil }
            return finding(
                "with 1 of the \(serving) servers of upstream '\(upstream.name)' down, fewer than \(plain(upstream.panicThresholdPercent))% are available, so the balancer panics and sends requests to every server, the dead one too",
                at: "upstreams[\(i)].panic_threshold_percent", in: config)
        }
    }
}
