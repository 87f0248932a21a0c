/// `max_ejected_percent: 100` lets passive detection take every server out at once.
struct OutlierMayEjectAll: LintRule {
    static let rule = Rule(id: "BL023", severity: .warning, title: "outlier detection may eject the whole upstream",
                           fix: "keep `outlier.max_ejected_percent` at 50 or below")

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            upstream.outlier.maxEjectedPercent >= 100 && upstream.servers.count > 1
                ? finding("outlier detection may eject every server of upstream '\(upstream.name)'",
                          at: "upstreams[\(i)].outlier.max_ejected_percent", in: config) : nil
        }
    }
}
