/// A listener whose routes leave some requests unmatched: they get 404 from the balancer,
/// which is easy to mistake for the service's own 404.
struct NoCatchAllRoute: LintRule {
    static let rule = Rule(id: "BL019", severity: .warning, title: "listener with no route for some paths",
                           fix: "add a last route with `match: { path_prefix: / }`, or accept 404 for the rest")

    static func check(_ config: Config) -> [Finding] {
        config.listeners.enumerated().compactMap { l, listener in
            let catchAll = listener.routes.contains { route in
                ShadowedRoute.covers(route.match, Match())
            }
            return catchAll ? nil : finding(
                "listener '\(listener.name)' answers 404 to requests no route matches", at: "listeners[\(l)].routes", in: config)
        }
    }
}
