/// A health check that logs in, logs out or registers changes state every few seconds on
/// every server (and may lock accounts or end sessions).
struct StateChangingHealthPath: LintRule {
    static let rule = Rule(id: "BL022", severity: .error, title: "health path is a state-changing endpoint",
                           fix: "probe a read-only endpoint such as /healthz")

    static let stateChanging: Set<String> = [
        "login", "logout", "signin", "signout", "register", "signup", "password", "delete", "reset",
    ]

    static func check(_ config: Config) -> [Finding] {
        config.upstreams.enumerated().compactMap { i, upstream in
            guard let path = upstream.health?.path else { return nil }
            let last = path.split(separator: "?").first.map { $0.split(separator: "/").last.map(String.init) ?? "" } ?? ""
            guard stateChanging.contains(last.lowercased()) else { return nil }
            return finding("health path \(path) of upstream '\(upstream.name)' changes state on every probe",
                           at: "upstreams[\(i)].health.path", in: config)
        }
    }
}
