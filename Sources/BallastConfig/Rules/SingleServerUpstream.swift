/// One server is a single point of failure.
struct SingleServerUpstream: LintRule {
    static let rule = Rule(id: "BL025", severity: .warning, title: "upstream with a single server",
                           fix: "run at least two servers")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            upstream.servers.count == 1
                ? finding("upstream '\(upstream.name)' has one server: a single point of failure", at: "upstreams[\(i)].servers", in: config)
                : nil
        }
    }
}
