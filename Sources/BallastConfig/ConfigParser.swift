import Foundation

/// Turns the YAML tree into the typed model, one section at a time.
struct ConfigParser {
    let reader: NodeReader

    func parse(_ root: YAMLNode) -> Config {
        var config = Config()
        guard let top = reader.fields(root, path: "", what: "the config",
                                      allowed: ["version", "admin", "listeners", "upstreams", "rollout", "alerts", "runbooks", "tracing"])
        else { return config }
        if let version = top.int("version", in: 0...Int.max, required: true), version != 1 {
            reader.report(.badVersion, "config version \(version) is not supported", at: top.node("version")?.location)
        }
        if let admin = top.mapping("admin", allowed: ["listen", "token_env", "read_token_env", "tokens_file", "hosts"]) {
            if let listen = admin.address("listen") { config.admin.listen = listen }
            if let env = admin.string("token_env") { config.admin.tokenEnv = env }
            if let env = admin.string("read_token_env") { config.admin.readTokenEnv = env }
            if let file = admin.string("tokens_file") { config.admin.tokensFile = file }
            if let hosts = admin.stringList("hosts") { config.admin.hosts = hosts.map { $0.lowercased() } }
        }
        if let node = top.node("listeners"), let items = reader.list(node, path: "listeners", what: "'listeners'") {
            config.listeners = items.enumerated().compactMap { listener($1, path: "listeners[\($0)]") }
        } else if !top.has("listeners") {
            reader.report(.missingKey, "the config has no 'listeners'", at: top.location,
                          fix: "add a listener: `listeners: [{ name: public, listen: 127.0.0.1:8080, routes: [...] }]`")
        }
        if let node = top.node("upstreams"), let items = reader.list(node, path: "upstreams", what: "'upstreams'") {
            config.upstreams = items.enumerated().compactMap { upstream($1, path: "upstreams[\($0)]") }
        }
        if let rollout = top.mapping("rollout", allowed: ["canary_percent", "watch", "rollback_when"]) {
            if let v = rollout.percent("canary_percent") { config.rollout.canaryPercent = v }
            if let v = rollout.duration("watch") { config.rollout.watch = v }
            if let when = rollout.mapping("rollback_when", allowed: ["error_rate_above", "healthy_below", "p99_above"]) {
                if let v = when.percent("error_rate_above") { config.rollout.errorRateAbove = v }
                if let v = when.percent("healthy_below") { config.rollout.healthyBelow = v }
                if let v = when.duration("p99_above") { config.rollout.p99Above = v }
            }
        }
        if let tracing = top.mapping("tracing", allowed: ["otlp_endpoint", "service_name", "sample_percent"]) {
            if let url = tracing.string("otlp_endpoint", required: true) {
                if (url.hasPrefix("http://") || url.hasPrefix("https://")), let parsed = URL(string: url), parsed.host != nil {
                    config.tracing.endpoint = url
                } else {
                    reader.report(.badValue, "tracing otlp_endpoint '\(url)' is not an http(s) URL", at: tracing.node("otlp_endpoint")?.location,
                                  fix: "give the collector's OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`")
                }
            }
            if let name = tracing.string("service_name") { config.tracing.serviceName = name }
            if let v = tracing.percent("sample_percent") { config.tracing.samplePercent = v }
        }
        if let runbooks = top.mapping("runbooks", allowed: ["review_interval", "directories"]) {
            if let v = runbooks.duration("review_interval") { config.runbookReviewInterval = v }
            if let v = runbooks.stringList("directories") { config.runbookDirectories = v }
        }
        if let node = top.node("alerts"), let alerts = reader.fields(node, path: "alerts", what: "'alerts'",
                                                                     allowed: ["scrape", "notify", "rules"]) {
            config.alerts = self.alerts(alerts)
            config.alertsGiven = true
        }
        return config
    }

    private func listener(_ node: YAMLNode, path: String) -> Listener? {
        guard let f = reader.fields(node, path: path, what: "a listener", allowed: [
            "name", "listen", "limits", "timeouts", "trusted_proxies", "access_log", "tls", "routes", "protocols",
        ]) else { return nil }
        let name = f.string("name", required: true)
        let listen = f.address("listen", required: true)
        guard let name, let listen else { return nil }
        var listener = Listener(name: name, listen: listen)
        let what = "listener '\(name)'"
        if let protocols = f.stringList("protocols") {
            let known = ["h2", "http1", "h2c"]
            listener.protocolsWritten = protocols.filter { known.contains($0) }
            for unknown in protocols where !known.contains(unknown) {
                reader.report(.badValue, "protocol '\(unknown)' of \(what) is not one Ballast speaks",
                              at: f.node("protocols")?.location, fix: "use h2 and http1 (with tls), h2c and http1 (without)")
            }
            if !protocols.contains("http1") && !protocols.contains("h2") && !protocols.contains("h2c") {
                reader.report(.badValue, "\(what) must speak http1, h2 or h2c", at: f.node("protocols")?.location, fix: "write [h2, http1]")
            }
        }
        if let limits = f.mapping("limits", allowed: ["max_header_bytes", "max_body_bytes", "max_connections", "max_connections_per_client"]) {
            if let v = limits.int("max_header_bytes", in: 1024...1_048_576) { listener.limits.maxHeaderBytes = v }
            if let v = limits.int("max_body_bytes", in: 0...(1 << 40)) { listener.limits.maxBodyBytes = v }
            if let v = limits.int("max_connections", in: 1...1_000_000) { listener.limits.maxConnections = v }
            if let v = limits.int("max_connections_per_client", in: 1...1_000_000) { listener.limits.maxConnectionsPerClientWritten = v }
        }
        if let t = f.mapping("timeouts", allowed: ["client_header", "idle", "stall"]) {
            if let v = t.duration("client_header") { listener.timeouts.clientHeader = v }
            if let v = t.duration("idle") { listener.timeouts.idle = v }
            if let v = t.duration("stall") { listener.timeouts.stall = v }
        }
        if let proxies = f.stringList("trusted_proxies") { listener.trustedProxies = proxies }
        if let node = f.node("access_log") {
            if case .scalar = node.kind {
                if let on = f.bool("access_log"), on { listener.accessLog = AccessLog() }
            } else if let log = f.mapping("access_log", allowed: ["format", "path"]) {
                var accessLog = AccessLog()
                if let text = log.oneOf("format", AccessLog.Format.allCases.map(\.rawValue)), let format = AccessLog.Format(rawValue: text) {
                    accessLog.format = format
                }
                accessLog.path = log.string("path")
                listener.accessLog = accessLog
            }
        }
        if let tls = f.mapping("tls", allowed: ["cert", "key", "certificates", "min_version", "client_ca"]) {
            listener.tls = listenerTLS(tls, what: what)
        }
        if listener.tls == nil, listener.protocolsWritten?.contains("h2") == true {
            reader.report(.badValue, "\(what) lists h2 but has no 'tls': browsers and curl reach HTTP/2 by TLS (ALPN)",
                          at: f.node("protocols")?.location, fix: "add `tls: { cert, key }`, or write h2c for HTTP/2 with prior knowledge")
        }
        if listener.tls != nil, listener.protocolsWritten?.contains("h2c") == true {
            reader.report(.badValue, "\(what) lists h2c, HTTP/2 without TLS, but terminates TLS",
                          at: f.node("protocols")?.location, fix: "write h2: TLS clients choose HTTP/2 by ALPN")
        }
        if let node = f.node("routes"), let items = reader.list(node, path: f.path("routes"), what: "'routes' of \(what)") {
            listener.routes = items.enumerated().compactMap { route($1, path: "\(path).routes[\($0)]") }
        } else if !f.has("routes") {
            reader.report(.missingKey, "\(what) has no 'routes'", at: f.location,
                          fix: "add `routes:` with at least one route to an upstream")
        }
        return listener
    }

    private func route(_ node: YAMLNode, path: String) -> Route? {
        guard let f = reader.fields(node, path: path, what: "a route", allowed: [
            "name", "match", "upstream", "timeouts", "retries", "rate_limit", "upgrades",
        ]) else { return nil }
        let name = f.string("name", required: true)
        let upstreamName = f.string("upstream", required: true)
        guard let name, let upstreamName else { return nil }
        var route = Route(name: name, upstream: upstreamName)
        if let m = f.mapping("match", allowed: ["host", "path_prefix", "path", "methods"]) {
            route.match.host = m.string("host")?.lowercased()
            route.match.pathPrefix = m.string("path_prefix")
            route.match.path = m.string("path")
            for key in ["path_prefix", "path"] {
                if let value = key == "path" ? route.match.path : route.match.pathPrefix, !value.hasPrefix("/") {
                    reader.report(.badValue, "'\(key)' of route '\(name)' must start with '/'", at: m.node(key)?.location,
                                  fix: "write '/\(value)'")
                }
            }
            if let methods = m.stringList("methods") {
                let valid = methods.filter { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isUppercase } }
                if valid.count != methods.count {
                    reader.report(.badValue, "'methods' of route '\(name)' must be upper-case HTTP methods",
                                  at: m.node("methods")?.location, fix: "write e.g. [GET, POST]")
                }
                route.match.methods = valid
            }
        }
        if let t = f.mapping("timeouts", allowed: ["connect", "response", "tunnel_idle", "tunnel_max"]) {
            if let v = t.duration("connect") { route.timeouts.connect = v }
            if let v = t.duration("response") { route.timeouts.response = v }
            if let v = t.duration("tunnel_idle") { route.timeouts.tunnelIdle = v }
            if let v = t.duration("tunnel_max") { route.timeouts.tunnelMax = v }
        }
        if let upgrades = f.stringList("upgrades") {
            route.upgrades = upgrades.map { $0.lowercased() }
            for protocolName in upgrades where protocolName.isEmpty || !protocolName.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "," }) {
                reader.report(.badValue, "upgrade protocol '\(protocolName)' of route '\(name)' is not a protocol token",
                              at: f.node("upgrades")?.location, fix: "write e.g. [websocket]")
            }
        }
        if let r = f.mapping("retries", allowed: ["attempts", "on", "budget_percent"]) {
            if let v = r.int("attempts", in: 1...10) { route.retries.attempts = v }
            if let v = r.percent("budget_percent") { route.retries.budgetPercent = v }
            if let conditions = r.stringList("on") {
                route.retries.on = conditions.compactMap { text in
                    if text == "connect-failure" { return .connectFailure }
                    if let code = Int(text), (500...599).contains(code) { return .status(code) }
                    reader.report(.badValue, "retry condition '\(text)' of route '\(name)' is not known",
                                  at: r.node("on")?.location, fix: "use connect-failure or a 5xx status such as \"503\"")
                    return nil
                }
            }
        }
        if let rl = f.mapping("rate_limit", allowed: ["per_client", "burst"]) {
            if let (text, location) = rl.node("per_client").flatMap(scalarText) {
                if let rate = Rate.parse(text) {
                    let burst = rl.int("burst", in: 1...1_000_000) ?? max(1, Int(rate.perSecond.rounded(.up)))
                    route.rateLimit = RateLimit(perClient: rate, burst: burst)
                } else {
                    reader.report(.badValue, "'per_client' of route '\(name)' is '\(text)', not a rate",
                                  at: location, fix: "write COUNT/s, COUNT/m or COUNT/h, e.g. 20/s")
                }
            } else {
                reader.report(.missingKey, "'rate_limit' of route '\(name)' needs 'per_client'", at: rl.location,
                              fix: "add `per_client: 20/s`")
            }
        }
        return route
    }

    private func scalarText(_ node: YAMLNode) -> (String, SourceLocation)? {
        if case .scalar(let text, _) = node.kind { return (text, node.location) }
        return nil
    }

    private func upstream(_ node: YAMLNode, path: String) -> Upstream? {
        guard let f = reader.fields(node, path: path, what: "an upstream", allowed: [
            "name", "balance", "hash_on", "servers", "health", "outlier", "keepalive", "limits", "panic_threshold_percent", "tls",
        ]) else { return nil }
        guard let name = f.string("name", required: true) else { return nil }
        var upstream = Upstream(name: name)
        let what = "upstream '\(name)'"
        if let text = f.oneOf("balance", BalanceAlgorithm.allCases.map(\.rawValue)),
           let balance = BalanceAlgorithm(rawValue: text) {
            upstream.balance = balance
        }
        if let text = f.string("hash_on") {
            if let key = HashKey.parse(text) {
                upstream.hashOn = key
            } else {
                reader.report(.badValue, "'hash_on' of \(what) is '\(text)', which is not a hash key",
                              at: f.node("hash_on")?.location, fix: "use header:NAME, cookie:NAME or client_ip")
            }
        }
        if let node = f.node("servers"), let items = reader.list(node, path: f.path("servers"), what: "'servers' of \(what)") {
            upstream.servers = items.enumerated().compactMap { index, item in
                let serverPath = "\(path).servers[\(index)]"
                if case .scalar = item.kind {
                    // Short form: `- 127.0.0.1:9101`.
                    reader.sourceMap[serverPath] = item.location
                    let wrapper = Fields(reader: reader, node: item, path: serverPath, what: "a server of \(what)",
                                         values: ["address": item])
                    return wrapper.address("address").map { Server(address: $0) }
                }
                guard let s = reader.fields(item, path: serverPath, what: "a server of \(what)",
                                            allowed: ["address", "weight"]) else { return nil }
                guard let address = s.address("address", required: true) else { return nil }
                return Server(address: address, weight: s.int("weight", in: 0...1000) ?? 1)
            }
        } else if !f.has("servers") {
            reader.report(.emptyUpstream, "\(what) has no servers", at: f.location)
        }
        if let h = f.mapping("health", allowed: [
            "path", "interval", "timeout", "healthy_after", "unhealthy_after", "expect_status",
        ]) {
            var health = HealthCheck()
            if let v = h.string("path") {
                if v.hasPrefix("/") { health.path = v } else {
                    reader.report(.badValue, "health 'path' of \(what) must start with '/'", at: h.node("path")?.location,
                                  fix: "write '/\(v)'")
                }
            }
            if let v = h.duration("interval") { health.interval = v }
            if let v = h.duration("timeout") {
                health.timeout = v
            } else if health.interval <= health.timeout {
                // Left out: at most half a short interval, so a probe ends before the next starts (BL021).
                health.timeout = health.interval / 2
            }
            // 0 is read here and refused by its own rule (BL040), which says why.
            if let v = h.int("healthy_after", in: 0...100) { health.healthyAfter = v }
            if let v = h.int("unhealthy_after", in: 0...100) { health.unhealthyAfter = v }
            if let v = h.int("expect_status", in: 100...599) { health.expectStatus = v }
            upstream.health = health
        }
        if let o = f.mapping("outlier", allowed: ["consecutive_failures", "eject_for", "max_ejected_percent"]) {
            if let v = o.int("consecutive_failures", in: 1...1000) { upstream.outlier.consecutiveFailures = v }
            if let v = o.duration("eject_for") { upstream.outlier.ejectFor = v }
            if let v = o.percent("max_ejected_percent") { upstream.outlier.maxEjectedPercent = v }
        }
        if let k = f.mapping("keepalive", allowed: ["max_idle_per_server", "idle_timeout", "server_idle_timeout", "pipeline_depth"]) {
            if let v = k.int("max_idle_per_server", in: 0...100_000) { upstream.keepalive.maxIdlePerServer = v }
            if let v = k.duration("idle_timeout") { upstream.keepalive.idleTimeout = v }
            if let v = k.duration("server_idle_timeout") { upstream.keepalive.serverIdleTimeout = v }
            if let v = k.int("pipeline_depth", in: 1...32) { upstream.keepalive.pipelineDepth = v }
        }
        if let l = f.mapping("limits", allowed: ["max_connections", "max_pending", "max_requests_per_server", "queue_timeout"]) {
            if let v = l.int("max_connections", in: 1...1_000_000) { upstream.limits.maxConnections = v }
            if let v = l.int("max_requests_per_server", in: 1...1_000_000) { upstream.limits.maxRequestsPerServer = v }
            if let v = l.int("max_pending", in: 0...1_000_000) { upstream.limits.maxPending = v }
            if let v = l.duration("queue_timeout") { upstream.limits.queueTimeout = v }
        }
        if let v = f.percent("panic_threshold_percent") { upstream.panicThresholdPercent = v }
        if let t = f.mapping("tls", allowed: ["ca", "server_name", "cert", "key", "verify"]) {
            var tls = UpstreamTLS()
            tls.ca = t.string("ca")
            tls.serverName = t.string("server_name")
            if let verify = t.bool("verify") { tls.verify = verify }
            tls.client = certificatePair(t, what: "'tls' of \(what)", required: false)
            upstream.tls = tls
        }
        return upstream
    }

    /// `{ cert, key }`, or `certificates: [{ cert, key }, ...]` (the first is the default).
    private func listenerTLS(_ f: Fields, what: String) -> ListenerTLS? {
        var certificates: [TLSFiles] = []
        if f.has("cert") || f.has("key") {
            if f.has("certificates") {
                reader.report(.badValue, "'tls' of \(what) has both 'cert' and 'certificates'", at: f.location,
                              fix: "list every certificate under `certificates:`, the default first")
            }
            if let pair = certificatePair(f, what: "'tls' of \(what)", required: true) { certificates.append(pair) }
        } else if let node = f.node("certificates"),
                  let items = reader.list(node, path: f.path("certificates"), what: "'certificates' of \(what)") {
            for (index, item) in items.enumerated() {
                guard let c = reader.fields(item, path: "\(f.path("certificates"))[\(index)]", what: "a certificate of \(what)",
                                            allowed: ["cert", "key"]) else { continue }
                if let pair = certificatePair(c, what: "a certificate of \(what)", required: true) { certificates.append(pair) }
            }
            if items.isEmpty {
                reader.report(.badValue, "'certificates' of \(what) is empty", at: node.location, fix: "list at least one `{ cert, key }`")
            }
        } else {
            reader.report(.missingKey, "'tls' of \(what) names no certificate", at: f.location,
                          fix: "write `tls: { cert: server.pem, key: server.key }`")
        }
        guard !certificates.isEmpty else { return nil }
        var tls = ListenerTLS(certificates: certificates)
        if let text = f.oneOf("min_version", TLSMinimumVersion.allCases.map(\.rawValue)), let version = TLSMinimumVersion(rawValue: text) {
            tls.minVersion = version
        }
        tls.clientCA = f.string("client_ca")
        return tls
    }

    /// A certificate and its key; one without the other is BL069.
    private func certificatePair(_ f: Fields, what: String, required: Bool) -> TLSFiles? {
        let cert = f.string("cert"), key = f.string("key")
        switch (cert, key) {
        case (let cert?, let key?):
            return TLSFiles(certificate: cert, key: key)
        case (_?, nil):
            reader.report(.certificateWithoutKey, "\(what) names a certificate but not its key", at: f.node("cert")?.location ?? f.location)
        case (nil, _?):
            reader.report(.certificateWithoutKey, "\(what) names a key but not its certificate", at: f.node("key")?.location ?? f.location)
        case (nil, nil):
            if required { reader.report(.missingKey, "\(what) has no 'cert' and 'key'", at: f.location) }
        }
        return nil
    }
}
