import BallastConfig

/// Turns signals into the series they need, feeds those series every tick, and computes each
/// signal's value. Series are shared: ten rules on one route's errors keep one history.
struct SignalBook {
    private var counters: [String: CounterTracker] = [:]
    private var gauges: [String: GaugeTracker] = [:]
    private var histograms: [String: HistogramTracker] = [:]
    /// Routes of each upstream (histograms are labelled by route only).
    private var routesOfUpstream: [String: [String]] = [:]
    /// The Unix time of the last observation (certificate expiry is counted from it).
    private var now: Double = 0
    private static let expirySelector = Selector(name: "ballast_tls_certificate_expiry_seconds")

    /// Registers what `signals` need; history of series still needed is kept.
    mutating func prepare(_ signals: [Signal], config: Config) {
        routesOfUpstream = Dictionary(grouping: config.listeners.flatMap(\.routes), by: \.upstream).mapValues { $0.map(\.name) }
        var wantedCounters: [String: (Selector, Double)] = [:]
        var wantedGauges: [String: (Selector, GaugeTracker.Aggregation)] = [:]
        var wantedHistograms: [String: (Selector, Double)] = [:]
        for signal in signals {
            let seconds = Double(signal.window.milliseconds) / 1000
            switch signal.kind {
            case .errorRatio, .requestRate:
                for selector in requestSelectors(signal.scope) {
                    let key = selector.description
                    wantedCounters[key] = (selector, max(seconds, wantedCounters[key]?.1 ?? 0))
                }
            case .loginFailureRatio:
                for selector in loginSelectors() {
                    let key = selector.description
                    wantedCounters[key] = (selector, max(seconds, wantedCounters[key]?.1 ?? 0))
                }
            case .latencyP99:
                let selector = latencySelector(signal.scope)
                let key = selector.description
                wantedHistograms[key] = (selector, max(seconds, wantedHistograms[key]?.1 ?? 0))
            case .healthyShare:
                let selector = healthSelector(signal.scope)
                wantedGauges[selector.description] = (selector, .avg)
            case .activeSessions:
                let selector = Selector(name: "ballast_auth_active_sessions")
                wantedGauges[selector.description] = (selector, .max)
            case .certificateExpiry:
                let selector = Self.expirySelector
                wantedGauges[selector.description] = (selector, .min)
            }
        }
        counters = wantedCounters.reduce(into: [:]) { result, entry in
            let (selector, seconds) = entry.value
            var tracker = counters[entry.key] ?? CounterTracker(selector: selector, capacity: Int(seconds) + 2)
            tracker.ring.resize(Int(seconds) + 2)
            result[entry.key] = tracker
        }
        gauges = wantedGauges.reduce(into: [:]) { result, entry in
            result[entry.key] = gauges[entry.key] ?? GaugeTracker(selector: entry.value.0, aggregation: entry.value.1)
        }
        histograms = wantedHistograms.reduce(into: [:]) { result, entry in
            let (selector, seconds) = entry.value
            result[entry.key] = histograms[entry.key] ?? HistogramTracker(selector: selector, capacity: Int(seconds) + 2)
        }
    }

    /// Each tracker reads only the samples its selector can match (`SampleIndex`): the default
    /// rules keep a few trackers per route, and each of them scanning every route's series every
    /// second held a whole core with no traffic at all behind 1,000 routes.
    mutating func observe(_ samples: [MetricSample], at time: Double) {
        now = time
        var index = SampleIndex(samples)
        for key in counters.keys { counters[key]!.observe(index.candidates(counters[key]!.selector), at: time) }
        for key in gauges.keys { gauges[key]!.observe(index.candidates(gauges[key]!.selector)) }
        for key in histograms.keys { histograms[key]!.observe(index.candidates(histograms[key]!.selector), at: time) }
    }

    /// The signal's value now; NaN when there is no data (no traffic, no scrape).
    func value(_ signal: Signal) -> Double {
        let seconds = Double(signal.window.milliseconds) / 1000
        switch signal.kind {
        case .errorRatio:
            let selectors = requestSelectors(signal.scope)
            return ratio(selectors[1], of: selectors[0], over: seconds)
        case .requestRate:
            guard let total = counters[requestSelectors(signal.scope)[0].description]?.increase(over: seconds),
                  total.span > 0 else { return .nan }
            return total.delta / total.span
        case .loginFailureRatio:
            let selectors = loginSelectors()
            return ratio(selectors[1], of: selectors[0], over: seconds)
        case .latencyP99:
            return histograms[latencySelector(signal.scope).description]?.quantile(0.99, over: seconds) ?? .nan
        case .healthyShare:
            return gauges[healthSelector(signal.scope).description]?.current ?? .nan
        case .activeSessions:
            return gauges[Selector(name: "ballast_auth_active_sessions").description]?.current ?? .nan
        case .certificateExpiry:
            // The gauge is the Unix time of expiry; what is left is that minus now.
            guard let first = gauges[Self.expirySelector.description]?.current, first.isFinite else { return .nan }
            return first - now
        }
    }

    /// Requests and 5xx of the scope counted since the book began; nil before any data.
    func requestTotals(_ scope: SignalScope) -> (requests: Double, errors: Double)? {
        let selectors = requestSelectors(scope)
        guard let all = counters[selectors[0].description], all.ring.count > 0 else { return nil }
        return (all.total, counters[selectors[1].description]?.total ?? 0)
    }

    private func ratio(_ part: Selector, of whole: Selector, over seconds: Double) -> Double {
        guard let all = counters[whole.description]?.increase(over: seconds), all.delta > 0,
              let some = counters[part.description]?.increase(over: seconds) else { return .nan }
        return min(1, some.delta / all.delta)
    }

    /// [all requests, 5xx requests] of the scope; of a server, its attempts and those that
    /// got a 5xx or no answer.
    private func requestSelectors(_ scope: SignalScope) -> [Selector] {
        var matchers: [String: Selector.Matcher] = [:]
        switch scope {
        case .all: break
        case .route(let name): matchers["route"] = .equals(name)
        case .upstream(let name): matchers["upstream"] = .equals(name)
        case .server(let upstream, let server):
            let matchers: [String: Selector.Matcher] = ["upstream": .equals(upstream), "server": .equals(server)]
            var errors = matchers
            errors["code"] = .oneOf(Selector.Choices(["5xx", "failed"]))
            return [Selector(name: "ballast_upstream_server_requests_total", matchers: matchers),
                    Selector(name: "ballast_upstream_server_requests_total", matchers: errors)]
        }
        var errors = matchers
        errors["code"] = .prefix("5")
        return [Selector(name: "ballast_requests_total", matchers: matchers),
                Selector(name: "ballast_requests_total", matchers: errors)]
    }

    /// [all logins, failed and throttled logins].
    private func loginSelectors() -> [Selector] {
        [Selector(name: "ballast_auth_logins_total"),
         Selector(name: "ballast_auth_logins_total", matchers: ["result": .notEquals("success")])]
    }

    private func latencySelector(_ scope: SignalScope) -> Selector {
        switch scope {
        case .all: Selector(name: "ballast_request_duration_seconds_bucket")
        case .route(let name): Selector(name: "ballast_request_duration_seconds_bucket", matchers: ["route": .equals(name)])
        case .upstream(let name):
            Selector(name: "ballast_request_duration_seconds_bucket",
                     matchers: ["route": .oneOf(Selector.Choices(routesOfUpstream[name] ?? []))])
        case .server(let upstream, let server):
            Selector(name: "ballast_upstream_server_response_seconds_bucket",
                     matchers: ["upstream": .equals(upstream), "server": .equals(server)])
        }
    }

    private func healthSelector(_ scope: SignalScope) -> Selector {
        if case .server(let upstream, let server) = scope {
            return Selector(name: "ballast_upstream_server_up", matchers: ["upstream": .equals(upstream), "server": .equals(server)])
        }
        if case .upstream(let name) = scope {
            return Selector(name: "ballast_upstream_healthy_share", matchers: ["upstream": .equals(name)])
        }
        return Selector(name: "ballast_upstream_healthy_share")
    }
}

/// One evaluation's samples by metric name, and by the value of a label a selector requires:
/// what a selector can match, found without a scan of every series (pure; `SampleIndexTests`).
struct SampleIndex {
    private let byName: [String: [MetricSample]]
    /// Per metric name and label name, the samples by that label's value (built when first asked).
    private var byLabel: [LabelKey: [String: [MetricSample]]] = [:]

    private struct LabelKey: Hashable {
        var metric: String
        var label: String
    }

    init(_ samples: [MetricSample]) { byName = Dictionary(grouping: samples, by: \.name) }

    /// A superset of the samples `selector` matches (the tracker applies the selector itself).
    mutating func candidates(_ selector: Selector) -> [MetricSample] {
        guard let all = byName[selector.name] else { return [] }
        let required = selector.matchers.compactMap { key, matcher -> (String, String)? in
            if case .equals(let value) = matcher { (key, value) } else { nil }
        }.min { $0.0 < $1.0 }
        guard let (label, value) = required else { return all }
        let key = LabelKey(metric: selector.name, label: label)
        if byLabel[key] == nil { byLabel[key] = Dictionary(grouping: all) { $0.labels[label] ?? "" } }
        return byLabel[key]![value] ?? []
    }
}
