/// TLS to an upstream addressed by IP with no `server_name`: nothing is sent by SNI, and the
/// server's certificate must name the IP address itself, which few certificates do.
struct UpstreamTLSWithoutServerName: LintRule {
    static let rule = Rule(id: "BL070", severity: .warning, title: "TLS to servers addressed by IP without a server name",
                           fix: "set `tls.server_name` to the name the servers' certificate is issued for")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            guard let tls = upstream.tls, tls.verify, tls.serverName == nil,
                  let server = upstream.servers.first(where: { $0.address.isIPLiteral }) else { return nil }
            return finding("upstream '\(upstream.name)' speaks TLS to \(server.address) with no `server_name`: its certificate is "
                           + "checked against the IP address and the server gets no SNI", at: "upstreams[\(i)].tls", in: config)
        }
    }
}

/// A TLS setting weaker than the default: TLS 1.0 or 1.1 on a listener (RFC 8996), or an
/// upstream whose certificate is not verified (anyone on the path can be the server).
struct WeakTLSPolicy: LintRule {
    static let rule = Rule(id: "BL071", severity: .warning, title: "TLS policy weaker than the default",
                           fix: "keep `min_version: \"1.2\"` (the default) and verify upstream certificates (`ca`, `server_name`)")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (i, listener) in config.listeners.enumerated() {
            guard let tls = listener.tls, tls.minVersion == .v1_0 || tls.minVersion == .v1_1 else { continue }
            findings.append(finding("listener '\(listener.name)' accepts TLS \(tls.minVersion.rawValue), deprecated by RFC 8996",
                                    at: "listeners[\(i)].tls.min_version", in: config))
        }
        for (i, upstream) in config.upstreams.enumerated() {
            guard let tls = upstream.tls, !tls.verify else { continue }
            findings.append(finding("upstream '\(upstream.name)' does not verify its servers' certificates: whoever sits on the path "
                                    + "can read and change its traffic", at: "upstreams[\(i)].tls.verify", in: config))
        }
        return findings
    }
}
