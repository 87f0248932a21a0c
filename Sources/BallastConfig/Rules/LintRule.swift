/// A rule that looks at a whole, parsed config (the loader's own rules run while parsing).
///
/// Each rule is one small type in its own file; `LintCatalogue.rules` lists them. The bad and
/// good example of every rule live in docs/rules.md, which the tests run as fixtures.
package protocol LintRule: Sendable {
    static var rule: Rule { get }
    static func check(_ config: Config) -> [Finding]
}

extension LintRule {
    static func finding(_ message: String, at path: String, in config: Config, fix: String? = nil) -> Finding {
        Finding(rule: rule, message: message, at: config.location(nearest: path), fix: fix)
    }

    /// The first of `paths` the file wrote, else the nearest written ancestor of the first:
    /// for a rule over several keys, the one whose value should change.
    static func finding(_ message: String, atFirstWritten paths: [String], in config: Config, fix: String? = nil) -> Finding {
        let path = paths.first(where: config.wrote) ?? paths[0]
        return finding(message, at: path, in: config, fix: fix)
    }
}

package enum LintCatalogue {
    package static let rules: [any LintRule.Type] = [
        UnusedUpstream.self, ShadowedRoute.self, NoCatchAllRoute.self, NoHealthCheck.self,
        HealthTimeoutNotBelowInterval.self, StateChangingHealthPath.self, OutlierMayEjectAll.self,
        OutlierOnSingleServer.self, SingleServerUpstream.self, ResponseTimeoutBelowHealthTimeout.self,
        KeepaliveOutlivesServer.self, RetriesWithoutBudget.self, StatusRetriesOnNonIdempotentRoute.self,
        AdminBeyondLoopback.self, ForwardedHeadersTrustedFromAnyone.self, TooManyConnections.self, HugeUpstream.self,
        HealthThresholdBelowOne.self, ZeroTimeout.self,
        // Values valid by type and range that switch a safety off or refuse normal requests.
        OutlierNeverEjects.self, SlowRecovery.self, SlowFailureDetection.self, CanaryCannotBeJudged.self,
        RollbackThresholdUnreachable.self, LimitRefusesNormalRequests.self, RateLimitShape.self,
        PanicDefeatsHealthChecks.self, HealthPassesFailingServer.self, AlertCannotFire.self, AlertTooSlow.self,
        RouteMatchesNothing.self, AlertsTellNobody.self,
        // Upstream limits (circuit breakers) that cannot work as meant.
        QueueOutlivesResponseTimeout.self, ConnectionCapFarBelowListeners.self,
        // TLS settings that leave a hop unverified or weaker than the default.
        UpstreamTLSWithoutServerName.self, WeakTLSPolicy.self,
    ]

    package static func check(_ config: Config) -> [Finding] {
        rules.flatMap { $0.check(config) }
    }

    /// Every rule of the catalogue: the loader's and the lint rules.
    package static var allRules: [Rule] { Rule.loaderRules + rules.map { $0.rule } + Rule.tlsRules + Rule.preflightRules + [.runbookMissing] + Rule.runbookRules + Rule.suppressionRules }
}

/// The index of each named upstream in `config.upstreams`, for source paths.
func upstreamIndex(_ config: Config) -> [String: Int] {
    var index: [String: Int] = [:]
    for (i, upstream) in config.upstreams.enumerated() where index[upstream.name] == nil { index[upstream.name] = i }
    return index
}
