/// What a config change does, in the user's words: routes, upstreams, servers, traffic shares,
/// health and timeouts, and the blast radius of each change.
///
/// ```
/// upstream auth: servers 127.0.0.1:9101, 127.0.0.1:9102 removed; 127.0.0.1:9201 added
///   blast radius: route auth loses 2 of 3 servers: capacity -67%
/// ```
package struct ConfigDiff: Sendable {
    package enum Impact: String, Sendable, Codable, Comparable {
        case none, low, high

        package static func < (a: Impact, b: Impact) -> Bool {
            let order: [Impact] = [.none, .low, .high]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    package struct Change: Sendable, Codable, Equatable {
        /// What changed: `upstream auth`, `route public/auth`, `listener public`, `admin`, `rollout`.
        package var subject: String
        package var description: String
        /// Who is hurt and how much, when the change moves or removes traffic.
        package var blastRadius: String?
        package var impact: Impact
    }

    package var changes: [Change] = []

    package var isEmpty: Bool { changes.isEmpty }
    package var impact: Impact { changes.map(\.impact).max() ?? .none }

    package init(old: Config, new: Config) {
        compareListeners(old, new)
        compareUpstreams(old, new)
        if old.admin != new.admin {
            add("admin", "admin API \(old.admin.listen) → \(new.admin.listen)", impact: .low)
        }
        if old.rollout != new.rollout {
            add("rollout", "rollout policy changed", impact: .low)
        }
    }

    private mutating func add(_ subject: String, _ description: String, blast: String? = nil, impact: Impact) {
        changes.append(Change(subject: subject, description: description, blastRadius: blast, impact: impact))
    }

    // MARK: Listeners and routes

    private mutating func compareListeners(_ old: Config, _ new: Config) {
        let oldNames = old.listeners.map(\.name), newNames = new.listeners.map(\.name)
        for listener in old.listeners where !newNames.contains(listener.name) {
            add("listener \(listener.name)", "listener removed (was on \(listener.listen))",
                blast: "every request on \(listener.listen) fails: \(listener.routes.count) route(s) gone", impact: .high)
        }
        for listener in new.listeners where !oldNames.contains(listener.name) {
            add("listener \(listener.name)", "listener added on \(listener.listen) with \(listener.routes.count) route(s)", impact: .low)
        }
        for newListener in new.listeners {
            guard let oldListener = old.listeners.first(where: { $0.name == newListener.name }) else { continue }
            let subject = "listener \(newListener.name)"
            if oldListener.listen != newListener.listen {
                add(subject, "moves from \(oldListener.listen) to \(newListener.listen)",
                    blast: "clients of \(oldListener.listen) can no longer connect", impact: .high)
            }
            if oldListener.limits != newListener.limits {
                add(subject, "limits \(describe(oldListener.limits)) → \(describe(newListener.limits))",
                    impact: newListener.limits.maxBodyBytes < oldListener.limits.maxBodyBytes
                        || newListener.limits.maxConnections < oldListener.limits.maxConnections ? .high : .low)
            }
            if oldListener.timeouts != newListener.timeouts {
                add(subject, "client timeouts header \(oldListener.timeouts.clientHeader.configText) → \(newListener.timeouts.clientHeader.configText), idle \(oldListener.timeouts.idle.configText) → \(newListener.timeouts.idle.configText)", impact: .low)
            }
            if oldListener.trustedProxies != newListener.trustedProxies {
                add(subject, "trusted proxies \(oldListener.trustedProxies) → \(newListener.trustedProxies)", impact: .low)
            }
            if oldListener.tls != newListener.tls {
                compareTLS(oldListener.tls, newListener.tls, subject: subject, at: newListener.listen)
            }
            if oldListener.protocols != newListener.protocols {
                let dropped = oldListener.protocols.filter { !newListener.protocols.contains($0) }
                add(subject, "protocols \(oldListener.protocols.joined(separator: ", ")) → \(newListener.protocols.joined(separator: ", "))",
                    blast: dropped.isEmpty ? nil : "clients that speak only \(dropped.joined(separator: " or ")) fall back or fail",
                    impact: dropped.contains("http1") ? .high : .low)
            }
            compareRoutes(oldListener, newListener, old: old, new: new)
        }
    }

    private func describe(_ limits: Limits) -> String {
        "headers \(limits.maxHeaderBytes) B, body \(limits.maxBodyBytes) B, \(limits.maxConnections) connections"
    }

    private mutating func compareRoutes(_ oldListener: Listener, _ newListener: Listener, old: Config, new: Config) {
        let oldNames = oldListener.routes.map(\.name), newNames = newListener.routes.map(\.name)
        for route in oldListener.routes where !newNames.contains(route.name) {
            let fallback = newListener.routes.first { ShadowedRoute.covers($0.match, route.match) }
            add("route \(newListener.name)/\(route.name)", "route removed (\(describe(route.match)) → upstream \(route.upstream))",
                blast: fallback.map { "its requests now go to route '\($0.name)' (upstream \($0.upstream))" }
                    ?? "its requests now get 404", impact: .high)
        }
        for route in newListener.routes where !oldNames.contains(route.name) {
            add("route \(newListener.name)/\(route.name)", "route added: \(describe(route.match)) → upstream \(route.upstream)", impact: .low)
        }
        let keptOld = oldNames.filter(newNames.contains), keptNew = newNames.filter(oldNames.contains)
        if keptOld != keptNew {
            add("listener \(newListener.name)", "route order \(keptOld.joined(separator: ", ")) → \(keptNew.joined(separator: ", "))",
                blast: "the first matching route wins: requests may now match another route", impact: .high)
        }
        for newRoute in newListener.routes {
            guard let oldRoute = oldListener.routes.first(where: { $0.name == newRoute.name }) else { continue }
            let subject = "route \(newListener.name)/\(newRoute.name)"
            if oldRoute.upstream != newRoute.upstream {
                let servers = new.upstream(named: newRoute.upstream)?.servers.count ?? 0
                add(subject, "re-pointed from upstream \(oldRoute.upstream) to \(newRoute.upstream)",
                    blast: "100% of its traffic moves to \(servers) server(s) of '\(newRoute.upstream)'", impact: .high)
            }
            if oldRoute.match != newRoute.match {
                add(subject, "match \(describe(oldRoute.match)) → \(describe(newRoute.match))",
                    blast: "requests it matched before may now go elsewhere or get 404", impact: .high)
            }
            if oldRoute.timeouts != newRoute.timeouts {
                var text = "timeouts connect \(oldRoute.timeouts.connect.configText) → \(newRoute.timeouts.connect.configText), response \(oldRoute.timeouts.response.configText) → \(newRoute.timeouts.response.configText)"
                if oldRoute.timeouts.tunnelIdle != newRoute.timeouts.tunnelIdle || oldRoute.timeouts.tunnelMax != newRoute.timeouts.tunnelMax {
                    text += ", tunnel idle \(oldRoute.timeouts.tunnelIdle.configText) → \(newRoute.timeouts.tunnelIdle.configText), tunnel max \(oldRoute.timeouts.tunnelMax.configText) → \(newRoute.timeouts.tunnelMax.configText)"
                }
                add(subject, text, impact: newRoute.timeouts.response < oldRoute.timeouts.response ? .high : .low)
            }
            if oldRoute.upgrades != newRoute.upgrades {
                add(subject, "upgrades [\(oldRoute.upgrades.joined(separator: ", "))] → [\(newRoute.upgrades.joined(separator: ", "))]",
                    blast: "tunnels already open stay; new Upgrade requests follow the new list",
                    impact: newRoute.upgrades.count < oldRoute.upgrades.count ? .high : .low)
            }
            if oldRoute.retries != newRoute.retries {
                add(subject, "retries \(describe(oldRoute.retries)) → \(describe(newRoute.retries))", impact: .low)
            }
            if oldRoute.rateLimit != newRoute.rateLimit {
                add(subject, "rate limit \(oldRoute.rateLimit.map { "\($0.perClient) burst \($0.burst)" } ?? "none") → \(newRoute.rateLimit.map { "\($0.perClient) burst \($0.burst)" } ?? "none")",
                    impact: .low)
            }
        }
    }

    private func describe(_ match: Match) -> String {
        var parts: [String] = []
        if let host = match.host { parts.append("host \(host)") }
        if let path = match.path { parts.append("path \(path)") }
        if let prefix = match.pathPrefix { parts.append("prefix \(prefix)") }
        if let methods = match.methods { parts.append(methods.joined(separator: "|")) }
        return parts.isEmpty ? "everything" : parts.joined(separator: " ")
    }

    private func describe(_ retries: Retries) -> String {
        "\(retries.attempts) on \(retries.on.map(\.description).joined(separator: ",")) budget \(Int(retries.budgetPercent))%"
    }

    // MARK: Upstreams and servers

    private mutating func compareUpstreams(_ old: Config, _ new: Config) {
        let oldNames = old.upstreams.map(\.name), newNames = new.upstreams.map(\.name)
        for upstream in old.upstreams where !newNames.contains(upstream.name) {
            add("upstream \(upstream.name)", "upstream removed (\(upstream.servers.count) server(s))", impact: .low)
        }
        for upstream in new.upstreams where !oldNames.contains(upstream.name) {
            add("upstream \(upstream.name)", "upstream added with \(upstream.servers.count) server(s)", impact: .low)
        }
        for newUpstream in new.upstreams {
            guard let oldUpstream = old.upstream(named: newUpstream.name) else { continue }
            compareServers(oldUpstream, newUpstream, routes: routes(to: newUpstream.name, in: new))
            let subject = "upstream \(newUpstream.name)"
            if oldUpstream.balance != newUpstream.balance || oldUpstream.hashOn != newUpstream.hashOn {
                add(subject, "balance \(oldUpstream.balance.rawValue) → \(newUpstream.balance.rawValue)",
                    blast: newUpstream.balance == .consistentHash || oldUpstream.balance == .consistentHash
                        ? "sticky clients are reshuffled" : nil, impact: .low)
            }
            if oldUpstream.health != newUpstream.health {
                add(subject, "health check \(describe(oldUpstream.health)) → \(describe(newUpstream.health))",
                    blast: oldUpstream.health?.path != newUpstream.health?.path
                        ? "every server is probed on a new path: if it does not answer \(newUpstream.health?.expectStatus ?? 200), all are marked down" : nil,
                    impact: oldUpstream.health?.path != newUpstream.health?.path ? .high : .low)
            }
            if oldUpstream.outlier != newUpstream.outlier {
                add(subject, "outlier detection \(newUpstream.outlier.consecutiveFailures) failures, eject \(newUpstream.outlier.ejectFor.configText), max \(Int(newUpstream.outlier.maxEjectedPercent))%", impact: .low)
            }
            if oldUpstream.keepalive != newUpstream.keepalive {
                add(subject, "keep-alive " + Self.keepaliveChanges(oldUpstream.keepalive, newUpstream.keepalive), impact: .low)
            }
            if oldUpstream.limits != newUpstream.limits {
                let old = oldUpstream.limits, new = newUpstream.limits
                func cap(_ value: Int?) -> String { value.map(String.init) ?? "none" }
                // A lower cap can turn traffic the upstream takes today into queueing and 503s.
                let lowered = (new.maxConnections ?? .max) < (old.maxConnections ?? .max)
                    || (new.maxRequestsPerServer ?? .max) < (old.maxRequestsPerServer ?? .max) || new.maxPending < old.maxPending
                add(subject, "limits: max_connections \(cap(old.maxConnections)) → \(cap(new.maxConnections)), max_requests_per_server \(cap(old.maxRequestsPerServer)) → \(cap(new.maxRequestsPerServer)), max_pending \(old.maxPending) → \(new.maxPending), queue_timeout \(old.queueTimeout.configText) → \(new.queueTimeout.configText)",
                    blast: lowered ? "requests beyond the new caps wait or get 503" : nil, impact: lowered ? .high : .low)
            }
            if oldUpstream.tls != newUpstream.tls {
                let (o, n) = (oldUpstream.tls, newUpstream.tls)
                let onlyClientCertificate = o != nil && n != nil && o?.ca == n?.ca && o?.serverName == n?.serverName && o?.verify == n?.verify
                add(subject, "TLS to the servers \(Self.describe(o)) → \(Self.describe(n))",
                    blast: onlyClientCertificate ? nil : "every request and health check fails unless the servers speak this (`ballast check --preflight` tries it)",
                    impact: onlyClientCertificate ? .low : .high)
            }
            if oldUpstream.panicThresholdPercent != newUpstream.panicThresholdPercent {
                add(subject, "panic threshold \(Int(oldUpstream.panicThresholdPercent))% → \(Int(newUpstream.panicThresholdPercent))%", impact: .low)
            }
        }
    }

    private mutating func compareTLS(_ old: ListenerTLS?, _ new: ListenerTLS?, subject: String, at listen: Address) {
        switch (old, new) {
        case (nil, _?):
            add(subject, "starts TLS on \(listen)", blast: "clients of http://\(listen) can no longer connect", impact: .high)
        case (_?, nil):
            add(subject, "stops TLS on \(listen)", blast: "clients of https://\(listen) can no longer connect", impact: .high)
        case (let old?, let new?):
            if old.certificates.map(\.certificate) != new.certificates.map(\.certificate) {
                add(subject, "certificates \(old.certificates.map(\.certificate)) → \(new.certificates.map(\.certificate))", impact: .low)
            }
            if old.minVersion != new.minVersion {
                let raised = old.minVersion.rawValue < new.minVersion.rawValue
                add(subject, "TLS min_version \(old.minVersion.rawValue) → \(new.minVersion.rawValue)",
                    blast: raised ? "clients that speak only TLS below \(new.minVersion.rawValue) can no longer connect" : nil, impact: raised ? .high : .low)
            }
            if old.clientCA != new.clientCA {
                add(subject, "client certificates \(old.clientCA.map { "signed by \($0)" } ?? "not asked") → \(new.clientCA.map { "signed by \($0)" } ?? "not asked")",
                    blast: new.clientCA == nil ? nil : "clients without a certificate from \(new.clientCA!) can no longer connect", impact: new.clientCA == nil ? .low : .high)
            }
        case (nil, nil):
            break
        }
    }

    private static func describe(_ tls: UpstreamTLS?) -> String {
        guard let tls else { return "off" }
        return "on (CA \(tls.ca ?? "system"), name \(tls.serverName ?? "the server's host")\(tls.client == nil ? "" : ", client certificate \(tls.client!.certificate)")\(tls.verify ? "" : ", unverified"))"
    }

    private func describe(_ health: HealthCheck?) -> String {
        guard let health else { return "none" }
        return "GET \(health.path) every \(health.interval.configText) expecting \(health.expectStatus)"
    }

    private func routes(to upstream: String, in config: Config) -> [String] {
        config.listeners.flatMap { $0.routes.filter { $0.upstream == upstream }.map(\.name) }
    }

    private mutating func compareServers(_ old: Upstream, _ new: Upstream, routes: [String]) {
        let oldServers = Dictionary(old.servers.map { ($0.address, $0.weight) }, uniquingKeysWith: +)
        let newServers = Dictionary(new.servers.map { ($0.address, $0.weight) }, uniquingKeysWith: +)
        let removed = old.servers.map(\.address).filter { newServers[$0] == nil }
        let added = new.servers.map(\.address).filter { oldServers[$0] == nil }
        let reweighted = new.servers.filter { server in oldServers[server.address].map { $0 != server.weight } ?? false }
        guard !removed.isEmpty || !added.isEmpty || !reweighted.isEmpty else { return }
        var parts: [String] = []
        if !removed.isEmpty { parts.append("removed \(removed.map(\.description).joined(separator: ", "))") }
        if !added.isEmpty { parts.append("added \(added.map(\.description).joined(separator: ", "))") }
        for server in reweighted { parts.append("\(server.address) weight \(oldServers[server.address]!) → \(server.weight)") }
        let oldTotal = old.servers.reduce(0) { $0 + $1.weight }, newTotal = new.servers.reduce(0) { $0 + $1.weight }
        let shares = Set(old.servers.map(\.address) + new.servers.map(\.address)).sorted { $0.description < $1.description }.map { address in
            "\(address) \(percent(oldServers[address] ?? 0, of: oldTotal)) → \(percent(newServers[address] ?? 0, of: newTotal))"
        }
        parts.append("traffic shares: " + shares.joined(separator: ", "))
        let who = routes.isEmpty ? "upstream \(new.name)" : routes.count == 1 ? "route \(routes[0])" : "routes \(routes.joined(separator: ", ")) (upstream \(new.name))"
        var blast: String?
        var impact: Impact = .low
        let kept = old.servers.count - removed.count
        if !old.servers.isEmpty, kept == 0 {
            blast = "\(who) keeps none of its \(old.servers.count) server(s): 100% of its traffic moves to servers that never served it"
            impact = .high
        } else if !removed.isEmpty {
            let capacity = Int((Double(removed.count) / Double(old.servers.count) * 100).rounded())
            blast = "\(who) loses \(removed.count) of \(old.servers.count) server(s): capacity -\(capacity)%"
            impact = .high
        } else if newTotal == 0 {
            blast = "\(who) gets no traffic: every weight is 0"
            impact = .high
        }
        add("upstream \(new.name)", parts.joined(separator: "; "), blast: blast, impact: impact)
    }

    private func percent(_ weight: Int, of total: Int) -> String {
        total == 0 ? "0%" : "\(Int((Double(weight) / Double(total) * 100).rounded()))%"
    }
}

extension ConfigDiff {
    /// The keep-alive settings that changed, each as `name old → new`.
    static func keepaliveChanges(_ old: Keepalive, _ new: Keepalive) -> String {
        var parts: [String] = []
        if old.idleTimeout != new.idleTimeout { parts.append("idle \(old.idleTimeout.configText) → \(new.idleTimeout.configText)") }
        if old.maxIdlePerServer != new.maxIdlePerServer { parts.append("max idle per server \(old.maxIdlePerServer) → \(new.maxIdlePerServer)") }
        if old.serverIdleTimeout != new.serverIdleTimeout {
            parts.append("server idle \(old.serverIdleTimeout?.configText ?? "unset") → \(new.serverIdleTimeout?.configText ?? "unset")")
        }
        if old.pipelineDepth != new.pipelineDepth { parts.append("pipeline depth \(old.pipelineDepth) → \(new.pipelineDepth)") }
        return parts.joined(separator: ", ")
    }
}
