/// A route that no request can match: `methods: []` allows no method; a `match.host` with a
/// port or a `*` never equals a request's host (compared without its port, literally); a path
/// with `?` or `#` never equals a request's path (the query is not part of it, a fragment is
/// never sent). Its requests fall through to the routes below it, or to the balancer's 404.
struct RouteMatchesNothing: LintRule {
    static let rule = Rule(id: "BL063", severity: .warning, title: "a route no request can match",
                           fix: "match what requests carry: methods such as [GET, POST], a host name without port or wildcard, a path without query")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            for (r, route) in listener.routes.enumerated() {
                let path = "listeners[\(l)].routes[\(r)].match"
                let tail = "so no request matches route '\(route.name)': its requests go to the routes below it or get 404"
                if route.match.methods?.isEmpty == true {
                    findings.append(finding("`methods: []` allows no method, \(tail)", at: "\(path).methods", in: config))
                }
                if let host = route.match.host {
                    if host.contains("*") {
                        findings.append(finding("host '\(host)' is compared literally (there are no wildcards), \(tail)", at: "\(path).host", in: config))
                    } else if hasPort(host) {
                        findings.append(finding("host '\(host)' has a port, but a request's host is compared without its port, \(tail)", at: "\(path).host", in: config))
                    }
                }
                for (key, value) in [("path", route.match.path), ("path_prefix", route.match.pathPrefix)] {
                    guard let value, let mark = value.first(where: { $0 == "?" || $0 == "#" }) else { continue }
                    let why = mark == "?" ? "the query is not part of the path a route sees" : "browsers never send the fragment"
                    findings.append(finding("\(key) '\(value)' holds '\(mark)', but \(why), \(tail)", at: "\(path).\(key)", in: config))
                }
            }
        }
        return findings
    }

    /// `example.com:8443` or `[::1]:8443`; not a bare IPv6 address in brackets.
    static func hasPort(_ host: String) -> Bool {
        if host.hasPrefix("[") { return host.contains("]:") }
        return host.contains(":") && host.split(separator: ":").count == 2
    }
}
