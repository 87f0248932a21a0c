/// Passive checks on a one-server upstream do nothing: with nowhere else to go, the balancer
/// keeps sending to the ejected server (panic mode) or refuses everything.
struct OutlierOnSingleServer: LintRule {
    static let rule = Rule(id: "BL024", severity: .warning, title: "passive checks on a one-server upstream",
                           fix: "add servers, or remove the `outlier` block")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            upstream.servers.count == 1 && config.location(of: "upstreams[\(i)].outlier") != nil
                ? finding("outlier detection on upstream '\(upstream.name)' has no other server to send to",
                          at: "upstreams[\(i)].outlier", in: config) : nil
        }
    }
}
