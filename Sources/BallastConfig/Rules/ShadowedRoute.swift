/// A route that can never match because an earlier route of its listener matches everything it
/// would (routes are evaluated in order, first match wins): `/` before `/auth/`.
struct ShadowedRoute: LintRule {
    static let rule = Rule(id: "BL018", severity: .error, title: "route shadowed by an earlier route",
                           fix: "move the more specific route above the general one")

    static func check(_ config: Config) -> [Finding] {
        var findings: [Finding] = []
        for (l, listener) in config.listeners.enumerated() {
            // Only routes on the way to this one's path in the listener's route table can cover it,
            // so a table of thousands of routes is checked in about the time it takes to build.
            let table = RouteTable(listener.routes.map(\.match))
            for (j, later) in listener.routes.enumerated() {
                let m = later.match
                let candidates = table.candidates(path: m.path ?? m.pathPrefix ?? "/", host: m.host).filter { $0 < j }.sorted()
                guard let earlier = candidates.lazy.map({ listener.routes[$0] }).first(where: { covers($0.match, m) }) else { continue }
                findings.append(finding(
                    "route '\(later.name)' can never match: route '\(earlier.name)' above it matches all of its requests",
                    at: "listeners[\(l)].routes[\(j)].match", in: config))
            }
        }
        return findings
    }

    /// True when every request `b` matches is matched by `a`.
    static func covers(_ a: Match, _ b: Match) -> Bool {
        if let host = a.host, host != b.host { return false }
        if let methods = a.methods {
            guard let other = b.methods, Set(other).isSubset(of: Set(methods)) else { return false }
        }
        if let exact = a.path { return b.path == exact }
        if let prefix = a.pathPrefix {
            if let exact = b.path { return exact.hasPrefix(prefix) }
            if let other = b.pathPrefix { return other.hasPrefix(prefix) }
            return prefix == "/"
        }
        return true
    }
}
