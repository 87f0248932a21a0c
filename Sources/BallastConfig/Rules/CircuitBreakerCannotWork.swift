/// Upstream `limits` that cannot work as meant (Envoy's circuit breakers, design.md):
/// - a queue deadline not below the response timeout of a route to the upstream: a queued
///   request could be answered 504 by its route before the queue gives up on it, and a request
///   that waits the whole deadline then has no time left for its server (error);
/// - a connection cap far below what the listeners routing to the upstream accept (under a
///   tenth): at a fraction of their load, most requests queue or get 503 (warning, BL066).
struct QueueOutlivesResponseTimeout: LintRule {
    static let rule = Rule(id: "BL065", severity: .error, title: "upstream queue deadline not below the route's response timeout",
                           fix: "set `limits.queue_timeout` well below the `timeouts.response` of every route to the upstream")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (u, upstream) in config.upstreams.enumerated() where upstream.limits.isSet {
            let routes = config.listeners.flatMap(\.routes).filter { $0.upstream == upstream.name }
            guard let route = routes.min(by: { $0.timeouts.response < $1.timeouts.response }),
                  upstream.limits.queueTimeout >= route.timeouts.response else { continue }
            findings.append(finding(
                "upstream '\(upstream.name)' lets a request wait \(upstream.limits.queueTimeout.configText) for a connection or a server, but route '\(route.name)' answers 504 after \(route.timeouts.response.configText): a queued request can time out before it is sent",
                atFirstWritten: ["upstreams[\(u)].limits.queue_timeout", "upstreams[\(u)].limits"], in: config))
        }
        return findings
    }
}

struct ConnectionCapFarBelowListeners: LintRule {
    static let rule = Rule(id: "BL066", severity: .warning, title: "upstream connection cap far below its listeners' connections",
                           fix: "raise `limits.max_connections` to a tenth or more of the listeners' `max_connections`, or leave it out")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (u, upstream) in config.upstreams.enumerated() {
            guard let cap = upstream.limits.maxConnections else { continue }
            let listeners = config.listeners.filter { $0.routes.contains { $0.upstream == upstream.name } }
            let accepted = listeners.reduce(0) { $0 + $1.limits.maxConnections }
            guard accepted > 0, cap * 10 < accepted else { continue }
            findings.append(finding(
                "upstream '\(upstream.name)' opens at most \(cap) connections, but the listeners routing to it accept \(accepted) clients: at a tenth of that load requests queue and then get 503",
                at: "upstreams[\(u)].limits.max_connections", in: config))
        }
        return findings
    }
}
