/// A route that no request can match: `methods: []` allows no method. Its requests fall through
/// to the routes below it (or to the balancer's 404), which is rarely what was meant.
struct RouteMatchesNothing: LintRule {
    static let rule = Rule(id: "BL063", severity: .warning, title: "a route no request can match",
                           fix: "list the methods the route serves, e.g. `methods: [GET, POST]`, or leave `methods` out for all")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (r, route) in listener.routes.enumerated() where route.match.methods?.isEmpty == true {
                findings.append(finding(
                    "route '\(route.name)' allows no method, so no request matches it: its requests go to the routes below it or get 404",
                    at: "listeners[\(l)].routes[\(r)].match.methods", in: config))
            }
        }
        return findings
    }
}
