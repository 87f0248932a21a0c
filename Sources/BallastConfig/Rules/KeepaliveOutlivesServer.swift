/// The classic intermittent-502 trap: the balancer reuses an idle connection just as the
/// server closes it, because the balancer keeps idle connections longer than the server does.
struct KeepaliveOutlivesServer: LintRule {
    static let rule = Rule(id: "BL027", severity: .error, title: "upstream idle timeout not below the servers' keep-alive timeout",
                           fix: "set `keepalive.idle_timeout` a few seconds below `keepalive.server_idle_timeout`")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            guard let server = upstream.keepalive.serverIdleTimeout, upstream.keepalive.idleTimeout >= server else { return nil }
            return finding(
                "upstream '\(upstream.name)' keeps idle connections \(upstream.keepalive.idleTimeout.configText), but its servers close them after \(server.configText): intermittent 502s",
                at: "upstreams[\(i)].keepalive.idle_timeout", in: config)
        }
    }
}
