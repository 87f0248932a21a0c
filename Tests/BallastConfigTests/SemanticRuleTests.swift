import Foundation
import Testing
@testable import BallastConfig

/// The semantic rules (BL052–BL064) branch by branch, at their boundaries: each case is a config
/// that must (or must not) produce the rule, on the line of the key to change, with the
/// consequence computed from the config in the message. docs/rules.md's examples cover one
/// branch of each; these cover the rest of the class.
@Suite struct SemanticRuleTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var yaml: String
        var rule: String
        /// nil: the rule must not fire. Else the key on the finding's line and words of its message.
        var key: String?
        var says: [String] = []
        var description: String { name }
    }

    static func config(listener: String = "", route: String = "", upstream: String = "    health: { path: /healthz }\n",
                       servers: String = "[127.0.0.1:9101, 127.0.0.1:9102]", tail: String = "") -> String {
        """
        version: 1
        listeners:
          - name: public
            listen: 127.0.0.1:8080

        """ + listener + """
            routes:
              - name: all
                match: { path_prefix: / }
                upstream: app

        """ + route + """
        upstreams:
          - name: app
            servers: \(servers)

        """ + upstream + tail
    }

    static func alert(_ body: String, notify: String = "", severity: String = "page") -> String {
        "alerts:\n" + notify + "  rules:\n    - name: A\n" + body + "      severity: \(severity)\n      summary: s\n      runbook: builtin:error-rate-high.md\n"
    }

    static let cases: [Case] = [
        // BL052
        Case(name: "21 failures in a row", yaml: config(upstream: "    health: { path: /healthz }\n    outlier: { consecutive_failures: 21 }\n"),
             rule: "BL052", key: "consecutive_failures", says: ["21 failures in a row"]),
        Case(name: "20 failures in a row", yaml: config(upstream: "    health: { path: /healthz }\n    outlier: { consecutive_failures: 20 }\n"), rule: "BL052"),
        Case(name: "ejection of 200ms", yaml: config(upstream: "    health: { path: /healthz }\n    outlier: { eject_for: 200ms }\n"),
             rule: "BL052", key: "eject_for", says: ["200 ms"]),
        Case(name: "one server: BL024's business", yaml: config(upstream: "    health: { path: /healthz }\n    outlier: { consecutive_failures: 1000 }\n", servers: "[127.0.0.1:9101]"), rule: "BL052"),
        // BL053
        Case(name: "recovery at 60 s", yaml: config(upstream: "    health: { path: /healthz, interval: 2s, healthy_after: 30 }\n"), rule: "BL053"),
        Case(name: "recovery at 62 s", yaml: config(upstream: "    health: { path: /healthz, interval: 2s, healthy_after: 31 }\n"),
             rule: "BL053", key: "healthy_after", says: ["62 s"]),
        Case(name: "a long interval is the key to change", yaml: config(upstream: "    health: { path: /healthz, interval: 40s, timeout: 5s }\n"),
             rule: "BL053", key: "interval", says: ["80 s"]),
        // BL054
        Case(name: "detection against a paging healthy_share alert",
             yaml: config(upstream: "    health: { path: /healthz, interval: 5s, timeout: 1s, unhealthy_after: 3 }\n",
                          tail: alert("      signal: healthy_share\n      upstream: app\n      below: 50%\n      for: 50s\n")),
             rule: "BL054", key: "unhealthy_after", says: ["alert 'A' pages up to 66 s", "16 s"]),
        Case(name: "a ticket alert is not a page",
             yaml: config(upstream: "    health: { path: /healthz, interval: 5s, timeout: 1s, unhealthy_after: 3 }\n",
                          tail: alert("      signal: healthy_share\n      upstream: app\n      below: 50%\n      for: 50s\n", severity: "ticket")),
             rule: "BL054"),
        Case(name: "detection longer than a shortened watch points at the watch",
             yaml: config(tail: "rollout: { watch: 5s }\n"), rule: "BL054", key: "watch", says: ["7 s", "5 s"]),
        Case(name: "an unused upstream is not judged", yaml: """
            version: 1
            listeners: []
            upstreams:
              - name: app
                servers: [127.0.0.1:9101, 127.0.0.1:9102]
                health: { path: /healthz, interval: 30s, timeout: 2s, unhealthy_after: 10 }

            """, rule: "BL054"),
        // BL055
        Case(name: "canary of 30%", yaml: config(tail: "rollout: { canary_percent: 30 }\n"), rule: "BL055", key: "canary_percent", says: ["30%"]),
        Case(name: "canary of 25% for 20 s", yaml: config(tail: "rollout: { canary_percent: 25 }\n"), rule: "BL055"),
        Case(name: "canary of 1% for 20 s needs 50 req/s", yaml: config(tail: "rollout: { canary_percent: 1 }\n"),
             rule: "BL055", key: "canary_percent", says: ["50 req/s"]),
        Case(name: "canary of 0%", yaml: config(tail: "rollout: { canary_percent: 0 }\n"), rule: "BL055", key: "canary_percent", says: ["without a single request"]),
        Case(name: "watch of 10 s", yaml: config(tail: "rollout: { watch: 10s }\n"), rule: "BL055"),
        // BL056
        Case(name: "rollback at 50% errors", yaml: config(tail: "rollout: { rollback_when: { error_rate_above: 50% } }\n"),
             rule: "BL056", key: "error_rate_above", says: ["every other request"]),
        Case(name: "rollback below 0% healthy", yaml: config(tail: "rollout: { rollback_when: { healthy_below: 0% } }\n"), rule: "BL056", key: "healthy_below"),
        Case(name: "p99 within reach of retries", yaml: config(route: "        timeouts: { connect: 1s, response: 5s }\n        retries: { attempts: 3 }\n",
                                                          tail: "rollout: { rollback_when: { p99_above: 10s } }\n"), rule: "BL056"),
        // BL057
        Case(name: "head limit of 8 KiB", yaml: config(listener: "    limits: { max_header_bytes: 8192 }\n"), rule: "BL057"),
        Case(name: "body limit under a login", yaml: config(listener: "    limits: { max_body_bytes: 4096 }\n"),
             rule: "BL057", key: "max_body_bytes", says: ["4,096 bytes", "every method"]),
        Case(name: "small body limit on a GET-only listener", yaml: config(listener: "    limits: { max_body_bytes: 0 }\n",
                                                                        route: "        timeouts: { response: 5s }\n").replacingOccurrences(of: "match: { path_prefix: / }", with: "match: { path_prefix: /, methods: [GET, HEAD] }"),
             rule: "BL057"),
        Case(name: "client_header of 500ms", yaml: config(listener: "    timeouts: { client_header: 500ms }\n"), rule: "BL057", key: "client_header", says: ["500 ms"]),
        Case(name: "max_connections of 50", yaml: config(listener: "    limits: { max_connections: 50 }\n"), rule: "BL057", key: "max_connections", says: ["visitor number 9"]),
        Case(name: "max_connections_per_client of 8", yaml: config(listener: "    limits: { max_connections_per_client: 8 }\n"), rule: "BL057",
             key: "max_connections_per_client", says: ["2nd browser"]),
        // BL058
        Case(name: "burst of 10 minutes", yaml: config(route: "        rate_limit: { per_client: 10/m, burst: 1000 }\n"),
             rule: "BL058", key: "burst", says: ["1,000 requests at once", "100 minutes"]),
        Case(name: "burst of one second", yaml: config(route: "        rate_limit: { per_client: 20/s, burst: 20 }\n"), rule: "BL058"),
        Case(name: "the default burst", yaml: config(route: "        rate_limit: { per_client: 7/s }\n"), rule: "BL058"),
        // BL059
        Case(name: "panic 51% with two servers", yaml: config(upstream: "    health: { path: /healthz }\n    panic_threshold_percent: 51\n"),
             rule: "BL059", key: "panic_threshold_percent", says: ["1 of the 2 servers"]),
        Case(name: "panic 66% with three servers", yaml: config(upstream: "    health: { path: /healthz }\n    panic_threshold_percent: 66\n",
                                                              servers: "[127.0.0.1:9101, 127.0.0.1:9102, 127.0.0.1:9103]"), rule: "BL059"),
        Case(name: "panic 67% with three servers", yaml: config(upstream: "    health: { path: /healthz }\n    panic_threshold_percent: 67\n",
                                                              servers: "[127.0.0.1:9101, 127.0.0.1:9102, 127.0.0.1:9103]"), rule: "BL059", key: "panic_threshold_percent"),
        // BL060
        Case(name: "expects 101", yaml: config(upstream: "    health: { path: /healthz, expect_status: 101 }\n"), rule: "BL060", key: "expect_status", says: ["every server counts as down"]),
        Case(name: "expects 401 (a protected health path)", yaml: config(upstream: "    health: { path: /healthz, expect_status: 401 }\n"), rule: "BL060"),
        // BL061
        Case(name: "error ratio above 100%", yaml: config(tail: alert("      signal: error_ratio\n      window: 1m\n      above: 100%\n")), rule: "BL061", key: "above", says: ["100%"]),
        Case(name: "request rate below 0", yaml: config(tail: alert("      signal: request_rate\n      window: 1m\n      below: 0\n")), rule: "BL061", key: "below"),
        Case(name: "a drop of 100%", yaml: config(tail: alert("      signal: request_rate\n      window: 1m\n      anomaly: { drop: 100% }\n")), rule: "BL061", key: "drop"),
        Case(name: "a burn rate beyond every request", yaml: config(tail: alert("      slo: { objective: 90%, windows: [{ long: 1h, short: 5m, burn_rate: 14.4 }] }\n")),
             rule: "BL061", key: "burn_rate", says: ["144%"]),
        Case(name: "the workbook's burn rate", yaml: config(tail: alert("      slo: { objective: 99.9%, windows: [{ long: 1h, short: 5m, burn_rate: 14.4 }] }\n")), rule: "BL061"),
        Case(name: "a scraped window shorter than the scrape", yaml: config(tail: alert("      signal: login_failure_ratio\n      window: 2s\n      above: 20%\n",
                                                                                        notify: "  scrape: { upstreams: [app], interval: 5s, timeout: 2s }\n")),
             rule: "BL061", key: "window", says: ["every 5 s"]),
        Case(name: "p99 above within reach", yaml: config(route: "        timeouts: { connect: 1s, response: 5s }\n", tail: alert("      signal: latency_p99\n      route: all\n      window: 1m\n      above: 5s\n")), rule: "BL061"),
        // BL062
        Case(name: "paging after 5 min", yaml: config(tail: alert("      signal: error_ratio\n      window: 1m\n      above: 5%\n      for: 5m\n")), rule: "BL062"),
        Case(name: "a ticket may wait", yaml: config(tail: alert("      signal: error_ratio\n      window: 1m\n      above: 5%\n      for: 1h\n", severity: "ticket")), rule: "BL062"),
        // BL063
        Case(name: "a host with a port", yaml: config().replacingOccurrences(of: "match: { path_prefix: / }", with: "match: { host: example.com:8443, path_prefix: / }"),
             rule: "BL063", key: "host", says: ["without its port"]),
        Case(name: "a wildcard host", yaml: config().replacingOccurrences(of: "match: { path_prefix: / }", with: "match: { host: \"*.example.com\", path_prefix: / }"),
             rule: "BL063", key: "host", says: ["no wildcards"]),
        Case(name: "an IPv6 host", yaml: config().replacingOccurrences(of: "match: { path_prefix: / }", with: "match: { host: \"[::1]\", path_prefix: / }"), rule: "BL063"),
        Case(name: "a path with a query", yaml: config().replacingOccurrences(of: "match: { path_prefix: / }", with: "match: { path: \"/search?q=1\" }"),
             rule: "BL063", key: "path", says: ["query"]),
        // BL064
        Case(name: "the log on, no webhook", yaml: config(tail: alert("      signal: error_ratio\n      window: 1m\n      above: 5%\n", notify: "  notify: { log: true }\n")), rule: "BL064"),
        Case(name: "only tickets", yaml: config(tail: alert("      signal: error_ratio\n      window: 1m\n      above: 5%\n", notify: "  notify: { log: false }\n", severity: "ticket")), rule: "BL064"),
    ]

    @Test(arguments: cases)
    func semanticRule(_ c: Case) throws {
        let all = allFindings(c.yaml)
        #expect(!all.contains { $0.severity == .error }, "\(c.name): the case must be a valid config: \(all)")
        let hits = all.filter { $0.ruleID == c.rule }
        guard let key = c.key else {
            #expect(hits.isEmpty, "\(c.name): \(c.rule) must not fire: \(hits)")
            return
        }
        let lines = c.yaml.components(separatedBy: "\n")
        let hit = try #require(hits.first { finding in
            guard let line = finding.location?.line, line >= 1, line <= lines.count else { return false }
            return lines[line - 1].contains("\(key):")
        }, "\(c.name): no \(c.rule) on the line of `\(key)`: \(hits)")
        for words in c.says {
            #expect(hit.message.contains(words), "\(c.name): '\(hit.message)' does not say '\(words)'")
        }
    }
}
