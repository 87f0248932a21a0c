import BallastConfig
import Crypto
import Foundation

/// What a topology document states about a config, as plain comparable facts. The document is
/// rendered from them, embeds them, and `ballast docs --check` compares them with the live ones.
package struct TopologyFacts: Codable, Equatable, Sendable {
    package struct Listener: Codable, Equatable, Sendable {
        package var name: String
        package var listen: String
        package var tls: Bool
        package var limits: String
        package var timeouts: String
        package var trustedProxies: [String]
    }

    package struct Route: Codable, Equatable, Sendable {
        package var listener: String
        package var name: String
        package var match: String
        package var upstream: String
        package var timeouts: String
        package var retries: String
        package var rateLimit: String
    }

    package struct Server: Codable, Equatable, Sendable {
        package var address: String
        package var weight: Int
        /// Share of the upstream's traffic, in percent (weights; none for consistent hashing).
        package var share: Double
    }

    package struct Upstream: Codable, Equatable, Sendable {
        package var name: String
        package var balance: String
        package var servers: [Server]
        package var health: String
        package var outlier: String
        package var keepalive: String
        package var panicThreshold: String
    }

    package struct Alert: Codable, Equatable, Sendable {
        package var name: String
        /// What it watches (`route 'auth'`, `upstream 'api'`, `all traffic`): with the name, its identity.
        package var scope: String
        package var severity: String
        package var condition: String
        package var runbook: String
    }

    /// The balancer's config version (nil for a file).
    package var configVersion: Int?
    /// The first 12 hex digits of the SHA-256 of the config text.
    package var configHash: String
    package var admin: String
    package var listeners: [Listener]
    /// In evaluation order: per listener, first match wins.
    package var routes: [Route]
    package var upstreams: [Upstream]
    package var rollout: String
    package var alerts: [Alert]

    /// The first 12 hex digits of the SHA-256 of `config`'s text: what documents and balancer
    /// heartbeats name a config by.
    package static func hash(of config: Config) -> String {
        SHA256.hash(data: Array(config.sourceText.utf8)).prefix(6).map { String(format: "%02x", $0) }.joined()
    }

    package init(config: Config, version: Int? = nil) {
        configVersion = version
        configHash = Self.hash(of: config)
        admin = config.admin.listen.description
        listeners = config.listeners.map { listener in
            Listener(name: listener.name, listen: listener.listen.description, tls: listener.tls != nil,
                     limits: "headers ≤ \(listener.limits.maxHeaderBytes) B, body ≤ \(listener.limits.maxBodyBytes) B, "
                         // A derived limit depends on the host's file limit: the document states the rule, so it agrees on every host.
                         + (listener.limits.maxConnectionsDerived ? "connections as the file limit allows" : "≤ \(listener.limits.maxConnections) connections"),
                     timeouts: "client header \(listener.timeouts.clientHeader.configText), idle \(listener.timeouts.idle.configText)",
                     trustedProxies: listener.trustedProxies)
        }
        routes = config.listeners.flatMap { listener in
            listener.routes.map { route in
                Route(listener: listener.name, name: route.name, match: Self.describe(route.match), upstream: route.upstream,
                      timeouts: "connect \(route.timeouts.connect.configText), response \(route.timeouts.response.configText)",
                      retries: route.retries.attempts == 0 ? "none"
                          : "\(route.retries.attempts) on \(route.retries.on.map(\.description).joined(separator: ", ")), budget \(Self.number(route.retries.budgetPercent))%",
                      rateLimit: route.rateLimit.map { "\($0.perClient) per client, burst \($0.burst)" } ?? "none")
            }
        }
        upstreams = config.upstreams.map { upstream in
            let total = upstream.servers.reduce(0) { $0 + $1.weight }
            let hashed = upstream.balance == .consistentHash
            return Upstream(
                name: upstream.name,
                balance: upstream.balance.rawValue + (upstream.hashOn.map { " on \($0)" } ?? ""),
                servers: upstream.servers.map { server in
                    let share = hashed ? 100 / Double(max(1, upstream.servers.count))
                        : total > 0 ? Double(server.weight) * 100 / Double(total) : 0
                    return Server(address: server.address.description, weight: server.weight, share: (share * 10).rounded() / 10)
                },
                health: upstream.health.map { h in
                    "GET \(h.path) every \(h.interval.configText), timeout \(h.timeout.configText), expect \(h.expectStatus), up after \(h.healthyAfter), down after \(h.unhealthyAfter)"
                } ?? "none",
                outlier: "eject after \(upstream.outlier.consecutiveFailures) consecutive failures for \(upstream.outlier.ejectFor.configText), at most \(Self.number(upstream.outlier.maxEjectedPercent))% ejected",
                keepalive: "≤ \(upstream.keepalive.maxIdlePerServer) idle per server, closed after \(upstream.keepalive.idleTimeout.configText)"
                    + (upstream.keepalive.serverIdleTimeout.map { " (servers close after \($0.configText))" } ?? "")
                    + (upstream.keepalive.pipelineDepth > 1 ? ", up to \(upstream.keepalive.pipelineDepth) requests pipelined" : ""),
                panicThreshold: "\(Self.number(upstream.panicThresholdPercent))%")
        }
        let r = config.rollout
        rollout = "canary \(Self.number(r.canaryPercent))% for \(r.watch.configText); roll back when errors > \(Self.number(r.errorRateAbove))%, healthy < \(Self.number(r.healthyBelow))% or p99 > \(r.p99Above.configText)"
        alerts = config.alerts.rules.map { rule in
            Alert(name: rule.name, scope: Self.scope(rule.condition), severity: rule.severity.rawValue,
                  condition: RuleEvaluator.describe(rule.condition) + (rule.forDuration > .zero ? " for \(rule.forDuration.configText)" : ""),
                  runbook: rule.runbook)
        }
    }

    static func scope(_ condition: AlertCondition) -> String {
        switch condition {
        case .threshold(let signal, _, _), .anomaly(let signal, _):
            signal.kind == .activeSessions || signal.kind == .loginFailureRatio ? "the auth service" : signal.scope.description
        case .burnRate(let scope, _, _): scope.description
        }
    }

    static func describe(_ match: Match) -> String {
        var parts: [String] = []
        if let host = match.host { parts.append("host \(host)") }
        if let path = match.path { parts.append("path = \(path)") }
        if let prefix = match.pathPrefix { parts.append("path prefix \(prefix)") }
        if let methods = match.methods { parts.append("methods \(methods.joined(separator: ", "))") }
        return parts.isEmpty ? "everything" : parts.joined(separator: ", ")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
    }
}
