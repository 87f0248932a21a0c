import Foundation
/// Reads the `alerts:` section (see `AlertsConfig`).
extension ConfigParser {
    func alerts(_ f: Fields) -> AlertsConfig {
        var alerts = AlertsConfig()
        if let s = f.mapping("scrape", allowed: ["upstreams", "path", "interval", "timeout"]) {
            if let names = s.stringList("upstreams") { alerts.scrape.upstreams = names }
            if let path = s.string("path") {
                if path.hasPrefix("/") { alerts.scrape.path = path } else {
                    reader.report(.badValue, "scrape 'path' must start with '/'", at: s.node("path")?.location,
                                  fix: "write '/\(path)'")
                }
            }
            if let v = positive(s, "interval") { alerts.scrape.interval = v }
            if let v = positive(s, "timeout") { alerts.scrape.timeout = v }
        }
        if let n = f.mapping("notify", allowed: ["log", "webhooks", "group_by", "repeat_interval"]) {
            if let v = n.bool("log") { alerts.notify.log = v }
            if let v = n.stringList("group_by") { alerts.notify.groupBy = v }
            if let v = positive(n, "repeat_interval") { alerts.notify.repeatInterval = v }
            if let node = n.node("webhooks"), let items = reader.list(node, path: n.path("webhooks"), what: "'webhooks'") {
                alerts.notify.webhooks = items.enumerated().compactMap { index, item in
                    webhook(item, path: "\(n.path("webhooks"))[\(index)]")
                }
            }
        }
        if let node = f.node("rules"), let items = reader.list(node, path: f.path("rules"), what: "'rules' of the alerts") {
            alerts.rules = items.enumerated().compactMap { rule($1, path: "\(f.path("rules"))[\($0)]") }
        }
        return alerts
    }

    private func positive(_ f: Fields, _ key: String) -> Duration? {
        guard let value = f.duration(key) else { return nil }
        guard value > .zero else {
            reader.report(.badValue, "'\(key)' of \(f.what) must be above 0", at: f.node(key)?.location,
                          fix: "write e.g. 1s")
            return nil
        }
        return value
    }

    private func webhook(_ node: YAMLNode, path: String) -> Webhook? {
        guard let w = reader.fields(node, path: path, what: "a webhook",
                                    allowed: ["url", "name", "send_resolved", "max_attempts", "timeout"]),
              let url = w.string("url", required: true) else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 else {
            reader.report(.badValue, "webhook url '\(url)' is not an http(s) URL", at: w.node("url")?.location,
                          fix: "write e.g. http://127.0.0.1:9093/api/v1/alerts-hook")
            return nil
        }
        var hook = Webhook(url: url, name: w.string("name"))
        if let v = w.bool("send_resolved") { hook.sendResolved = v }
        if let v = w.int("max_attempts", in: 1...100) { hook.maxAttempts = v }
        if let v = positive(w, "timeout") { hook.timeout = v }
        return hook
    }

    private func rule(_ node: YAMLNode, path: String) -> AlertRule? {
        guard let r = reader.fields(node, path: path, what: "an alert rule", allowed: [
            "name", "severity", "summary", "runbook", "for", "signal", "route", "upstream", "window",
            "above", "below", "anomaly", "slo",
        ]) else { return nil }
        let name = r.string("name", required: true)
        let runbook = r.string("runbook", required: true)
        guard let name, let runbook else { return nil }
        let what = "alert '\(name)'"
        var scope = SignalScope.all
        if let route = r.string("route") { scope = .route(route) }
        if let upstream = r.string("upstream") {
            if case .route = scope {
                reader.report(.badValue, "\(what) names both a route and an upstream", at: r.node("upstream")?.location,
                              fix: "keep one of 'route' and 'upstream'")
            }
            scope = .upstream(upstream)
        }
        let condition: AlertCondition?
        if let slo = r.mapping("slo", allowed: ["objective", "windows"]) {
            for key in ["signal", "above", "below", "anomaly", "window"] where r.has(key) {
                reader.report(.badValue, "\(what) is an SLO rule, so '\(key)' does not apply", at: r.node(key)?.location,
                              fix: "remove '\(key)'; an SLO rule watches the error ratio of its route or upstream")
            }
            condition = sloCondition(slo, scope: scope, what: what)
        } else {
            condition = signalCondition(r, scope: scope, what: what)
        }
        guard let condition else { return nil }
        var rule = AlertRule(name: name, summary: r.string("summary") ?? name, runbook: runbook, condition: condition)
        if let text = r.oneOf("severity", AlertSeverity.allCases.map(\.rawValue)), let severity = AlertSeverity(rawValue: text) {
            rule.severity = severity
        }
        if let v = r.duration("for") { rule.forDuration = v }
        return rule
    }

    private func sloCondition(_ slo: Fields, scope: SignalScope, what: String) -> AlertCondition? {
        guard let objective = slo.percent("objective") else {
            if !slo.has("objective") {
                reader.report(.missingKey, "the 'slo' of \(what) needs 'objective'", at: slo.location,
                              fix: "add `objective: 99.9%`")
            }
            return nil
        }
        guard objective > 0, objective < 100 else {
            reader.report(.badValue, "the objective of \(what) must be between 0% and 100%, exclusive",
                          at: slo.node("objective")?.location, fix: "write e.g. 99.9%")
            return nil
        }
        var windows = BurnWindow.workbook
        if let node = slo.node("windows"), let items = reader.list(node, path: slo.path("windows"), what: "'windows'") {
            windows = items.enumerated().compactMap { index, item in
                guard let w = reader.fields(item, path: "\(slo.path("windows"))[\(index)]", what: "a burn-rate window",
                                            allowed: ["long", "short", "burn_rate"]) else { return nil }
                let long = positive(w, "long"), short = positive(w, "short")
                guard let long, let short else {
                    if !w.has("long") || !w.has("short") {
                        reader.report(.missingKey, "a burn-rate window of \(what) needs 'long' and 'short'", at: w.location,
                                      fix: "write e.g. { long: 1h, short: 5m, burn_rate: 14.4 }")
                    }
                    return nil
                }
                guard short < long else {
                    reader.report(.badValue, "the short window of \(what) must be shorter than the long one",
                                  at: w.node("short")?.location, fix: "the workbook uses 1/12 of the long window")
                    return nil
                }
                guard long <= .seconds(6 * 3600) else {
                    reader.report(.badValue, "burn-rate windows of \(what) can be at most 6h long in the built-in engine",
                                  at: w.node("long")?.location, fix: "use 6h or less; export the rules for Prometheus for longer ones")
                    return nil
                }
                guard let factor = number(w, "burn_rate", required: true), factor > 0 else { return nil }
                return BurnWindow(long: long, short: short, factor: factor)
            }
        }
        return .burnRate(scope: scope, objective: (objective / 100 * 1e12).rounded() / 1e12, windows: windows)
    }

    private func signalCondition(_ r: Fields, scope: SignalScope, what: String) -> AlertCondition? {
        guard let text = r.oneOf("signal", Signal.Kind.allCases.map(\.rawValue)), let kind = Signal.Kind(rawValue: text) else {
            if !r.has("signal") {
                reader.report(.missingKey, "\(what) needs 'signal' (or 'slo')", at: r.location,
                              fix: "add e.g. `signal: error_ratio` with `above: 5%`")
            }
            return nil
        }
        switch kind {
        case .healthyShare:
            guard case .upstream = scope else {
                reader.report(.missingKey, "\(what) watches healthy_share, which needs 'upstream'", at: r.location,
                              fix: "add `upstream: NAME`")
                return nil
            }
        case .loginFailureRatio, .activeSessions, .certificateExpiry:
            if scope != .all {
                let source = kind == .certificateExpiry ? "covers every certificate in use" : "comes from the scraped replicas"
                reader.report(.badValue, "\(what) watches \(kind.rawValue), which \(source), not a route",
                              at: (r.node("route") ?? r.node("upstream"))?.location, fix: "remove 'route'/'upstream'")
            }
        default: break
        }
        var window = Duration.seconds(30)
        if let w = positive(r, "window") {
            if !kind.isWindowed {
                reader.report(.badValue, "\(kind.rawValue) is read as it is now, so 'window' does not apply to \(what)",
                              at: r.node("window")?.location, fix: "remove 'window'")
            }
            if w > .seconds(6 * 3600) {
                reader.report(.badValue, "the window of \(what) can be at most 6h", at: r.node("window")?.location)
            }
            window = w
        }
        let signal = Signal(kind, scope: scope, window: window)
        if let a = r.mapping("anomaly", allowed: ["drop", "rise", "min_change", "baseline", "warmup"]) {
            for key in ["above", "below"] where r.has(key) {
                reader.report(.badValue, "\(what) is an anomaly rule, so '\(key)' does not apply", at: r.node(key)?.location,
                              fix: "keep either 'anomaly' or '\(key)'")
            }
            let drop = a.percent("drop"), rise = a.percent("rise")
            guard (drop == nil) != (rise == nil) else {
                reader.report(.badValue, "the anomaly of \(what) needs exactly one of 'drop' and 'rise'", at: a.location,
                              fix: "write e.g. `anomaly: { drop: 20% }`")
                return nil
            }
            var anomaly = Anomaly(direction: drop != nil ? .drop : .rise, change: (drop ?? rise ?? 0) / 100)
            if let v = threshold(a, "min_change", kind: kind) { anomaly.minChange = v }
            if let v = positive(a, "baseline") { anomaly.baseline = v }
            if let v = a.duration("warmup") { anomaly.warmup = v }
            return .anomaly(signal, anomaly)
        }
        let above = threshold(r, "above", kind: kind), below = threshold(r, "below", kind: kind)
        switch (above, below) {
        case (let value?, nil): return .threshold(signal, .above, value)
        case (nil, let value?): return .threshold(signal, .below, value)
        default:
            if r.has("above") == r.has("below") {
                reader.report(.badValue, "\(what) needs exactly one of 'above', 'below' and 'anomaly'", at: r.location,
                              fix: "write e.g. `above: 5%`")
            }
            return nil
        }
    }

    /// A threshold in the signal's own unit: a share (`5%` or `0.05`), a duration, or a number.
    private func threshold(_ f: Fields, _ key: String, kind: Signal.Kind) -> Double? {
        guard let node = f.node(key) else { return nil }
        guard case .scalar(let text, _) = node.kind else {
            reader.report(.wrongType, "'\(key)' of \(f.what) must be a value, found \(node.typeName)", at: node.location)
            return nil
        }
        switch kind {
        case .latencyP99, .certificateExpiry:
            guard let d = Duration.parseConfig(text) else {
                reader.report(.badDuration, "'\(key)' of \(f.what) is '\(text)', which is not a duration", at: node.location,
                              fix: kind == .latencyP99 ? "latency thresholds are durations, e.g. 500ms" : "write how long before expiry, e.g. 7d")
                return nil
            }
            return Double(d.milliseconds) / 1000
        case _ where kind.isRatio:
            let value = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
            guard let value, value.isFinite, (0...1).contains(value) else {
                reader.report(.badValue, "'\(key)' of \(f.what) is '\(text)', not a share from 0% to 100%", at: node.location,
                              fix: "write e.g. 5% or 0.05")
                return nil
            }
            return value
        default:
            return number(f, key, required: true)
        }
    }

    private func number(_ f: Fields, _ key: String, required: Bool) -> Double? {
        guard let node = f.node(key) else {
            if required { reader.report(.missingKey, "\(f.what) needs '\(key)'", at: f.location) }
            return nil
        }
        guard case .scalar(let text, _) = node.kind, let value = Double(text.replacingOccurrences(of: "_", with: "")),
              value.isFinite, value >= 0 else {
            reader.report(.badValue, "'\(key)' of \(f.what) must be a number of 0 or more", at: node.location)
            return nil
        }
        return value
    }
}
