/// Outlier detection set so that it does nothing in practice: a run of failures too long to
/// happen on a server that still answers some requests, or an ejection too short to matter.
struct OutlierNeverEjects: LintRule {
    static let rule = Rule(id: "BL052", severity: .warning, title: "outlier detection that never ejects",
                           fix: "keep `outlier.consecutive_failures` at 20 or below (Envoy's default is 5) and `eject_for` at 1s or more")

    static let longestRun = 20
    static let shortestEjection: Duration = .seconds(1)

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (i, upstream) in config.upstreams.enumerated() where upstream.servers.count > 1 {
            let outlier = upstream.outlier
            if outlier.consecutiveFailures > longestRun {
                findings.append(finding(
                    "upstream '\(upstream.name)' ejects a server only after \(grouped(outlier.consecutiveFailures)) failures in a row: a dead server fails \(grouped(outlier.consecutiveFailures)) requests first, and one that fails half of its requests is practically never ejected (such a run comes once in 2^\(outlier.consecutiveFailures) requests)",
                    at: "upstreams[\(i)].outlier.consecutive_failures", in: config))
            }
            if outlier.ejectFor < shortestEjection {
                findings.append(finding(
                    "upstream '\(upstream.name)' ejects a failing server for \(outlier.ejectFor.spoken): it is back before its next few requests, so ejection barely takes it out",
                    at: "upstreams[\(i)].outlier.eject_for", in: config))
            }
        }
        return findings
    }
}
