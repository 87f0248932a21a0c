/// An upstream no route sends traffic to: dead config, or a route pointing at the wrong name.
struct UnusedUpstream: LintRule {
    static let rule = Rule(id: "BL017", severity: .warning, title: "upstream no route uses",
                           fix: "point a route at it or remove it")

    static func check(_ config: Config) -> [Finding] {
        let used = Set(config.listeners.flatMap { $0.routes.map(\.upstream) })
        return config.upstreams.enumerated().compactMap { i, upstream in
            used.contains(upstream.name) ? nil
                : finding("upstream '\(upstream.name)' gets no traffic: no route points at it", at: "upstreams[\(i)].name", in: config)
        }
    }
}
