import Foundation

/// The `alerts:` section: what the built-in alert engine watches, when it fires, whom it tells.
///
/// ```yaml
/// alerts:
///   scrape: { upstreams: [auth], path: /metrics, interval: 1s }
///   notify: { log: true, webhooks: [{ url: http://127.0.0.1:9095/hook }], group_by: [alertname] }
///   rules:
///     - name: AuthErrorRateHigh
///       signal: error_ratio
///       route: auth
///       window: 10s
///       above: 5%
///       for: 2s
///       severity: page
///       summary: More than 5% of auth requests fail
///       runbook: docs/runbooks/error-rate.md
/// ```
/// A config without `alerts:` gets `AlertsConfig.defaults(for:)`: the rules every stack wants.
package struct AlertsConfig: Sendable, Hashable {
    package var scrape = Scrape()
    package var notify = Notify()
    package var rules: [AlertRule] = []
    package init() {}
}

/// Servers whose own `/metrics` the engine reads (the auth replicas' logins and sessions).
package struct Scrape: Sendable, Hashable {
    package var upstreams: [String] = []
    package var path = "/metrics"
    package var interval: Duration = .seconds(1)
    package var timeout: Duration = .milliseconds(800)
    package init() {}
}

package struct Notify: Sendable, Hashable {
    /// Firing and resolved notifications in the log (and always on the timeline).
    package var log = true
    package var webhooks: [Webhook] = []
    /// Alerts with equal values of these labels go out in one notification (Alertmanager's group_by).
    package var groupBy: [String] = ["alertname"]
    /// A group that is still firing, unchanged, is notified again after this (Alertmanager's repeat_interval).
    package var repeatInterval: Duration = .seconds(4 * 3600)
    package init() {}
}

package struct Webhook: Sendable, Hashable {
    package var url: String
    /// What metrics and logs call this receiver: the URL's path and query often hold a secret
    /// (Slack and Teams webhooks are bearer URLs), so they never appear; by default the host
    /// (and port) of the URL, or the `name` the config gives.
    package var name: String
    package var sendResolved = true
    /// Delivery attempts before a notification is given up (with exponential back-off).
    package var maxAttempts = 8
    package var timeout: Duration = .seconds(2)
    package init(url: String, name: String? = nil) {
        self.url = url
        self.name = name ?? Self.defaultName(url)
    }

    /// `https://hooks.slack.com/services/T0/B0/secret` → `hooks.slack.com`.
    package static func defaultName(_ url: String) -> String {
        guard let parts = URLComponents(string: url), let host = parts.host, !host.isEmpty else { return "webhook" }
        return parts.port.map { "\(host):\($0)" } ?? host
    }
}

package enum AlertSeverity: String, Sendable, Hashable, CaseIterable, Codable {
    /// Someone must act now; opens an incident.
    case page
    /// Someone must act within the working day.
    case ticket
    case info
}

package struct AlertRule: Sendable, Hashable {
    package var name: String
    package var severity: AlertSeverity = .page
    package var summary: String
    /// A path (relative to the working directory) or an http(s) URL; a missing file is BL042.
    package var runbook: String
    /// How long the condition must hold before the alert fires (Prometheus' `for`).
    package var forDuration: Duration = .zero
    package var condition: AlertCondition

    package init(name: String, severity: AlertSeverity = .page, summary: String, runbook: String,
                forDuration: Duration = .zero, condition: AlertCondition) {
        self.name = name
        self.severity = severity
        self.summary = summary
        self.runbook = runbook
        self.forDuration = forDuration
        self.condition = condition
    }
}

package enum AlertCondition: Sendable, Hashable {
    /// The signal is above or below a fixed value.
    case threshold(Signal, Comparison, Double)
    /// Multi-window, multi-burn-rate SLO alert (Google SRE workbook, chapter 5).
    case burnRate(scope: SignalScope, objective: Double, windows: [BurnWindow])
    /// The signal left its own recent baseline (EWMA) by at least `change`.
    case anomaly(Signal, Anomaly)
}

package enum Comparison: String, Sendable, Hashable {
    case above, below
    package var symbol: String { self == .above ? ">" : "<" }
}

package struct BurnWindow: Sendable, Hashable {
    package var long: Duration
    package var short: Duration
    package var factor: Double
    package init(long: Duration, short: Duration, factor: Double) {
        self.long = long
        self.short = short
        self.factor = factor
    }

    /// The workbook's page-level pair for a 99.9% objective: 2% of a 30-day budget in 1 h, 5% in 6 h.
    package static let workbook: [BurnWindow] = [
        BurnWindow(long: .seconds(3600), short: .seconds(300), factor: 14.4),
        BurnWindow(long: .seconds(6 * 3600), short: .seconds(1800), factor: 6),
    ]
}

package struct Anomaly: Sendable, Hashable {
    package enum Direction: String, Sendable, Hashable { case drop, rise }
    package var direction: Direction
    /// Relative change against the baseline: 0.2 = 20%.
    package var change: Double
    /// Smallest absolute change that counts, so 0 → 0.01 is not an anomaly.
    package var minChange: Double = 0
    /// Time constant of the exponentially weighted moving average.
    package var baseline: Duration = .seconds(60)
    /// No firing until the baseline has seen this much data.
    package var warmup: Duration = .seconds(60)

    package init(direction: Direction, change: Double, minChange: Double = 0,
                baseline: Duration = .seconds(60), warmup: Duration = .seconds(60)) {
        self.direction = direction
        self.change = change
        self.minChange = minChange
        self.baseline = baseline
        self.warmup = warmup
    }
}

/// What a signal is measured over.
package enum SignalScope: Sendable, Hashable, CustomStringConvertible {
    case all
    case route(String)
    case upstream(String)
    /// One server of an upstream (the dashboard's and status's per-server numbers; alert rules
    /// in a config name routes or upstreams).
    case server(upstream: String, server: String)

    package var description: String {
        switch self {
        case .all: "all traffic"
        case .route(let name): "route '\(name)'"
        case .upstream(let name): "upstream '\(name)'"
        case .server(let upstream, let server): "server \(server) of upstream '\(upstream)'"
        }
    }
}

/// A number the engine computes each second from in-process and scraped metrics.
package struct Signal: Sendable, Hashable {
    package enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Share of an upstream's servers that are healthy and not ejected (0…1).
        case healthyShare = "healthy_share"
        /// 5xx answers / all answers over the window (0…1).
        case errorRatio = "error_ratio"
        /// Requests per second over the window.
        case requestRate = "request_rate"
        /// 99th percentile of request duration over the window, in seconds.
        case latencyP99 = "latency_p99"
        /// Failed and throttled logins / all logins over the window (scraped from the replicas).
        case loginFailureRatio = "login_failure_ratio"
        /// Sessions alive in the auth database (scraped from the replicas).
        case activeSessions = "active_sessions"
        /// Seconds until the first TLS certificate in use expires (listeners and upstream
        /// client certificates, `ballast_tls_certificate_expiry_seconds`); written as a duration.
        case certificateExpiry = "certificate_expiry"

        /// Signals whose value is a share, written as `5%` or `0.05`.
        package var isRatio: Bool { [.healthyShare, .errorRatio, .loginFailureRatio].contains(self) }
        /// Signals that need a window.
        package var isWindowed: Bool { [.errorRatio, .requestRate, .latencyP99, .loginFailureRatio].contains(self) }
        /// Signals read from the servers' own /metrics, not from the balancer.
        package var isScraped: Bool { [.loginFailureRatio, .activeSessions].contains(self) }
    }

    package var kind: Kind
    package var scope: SignalScope
    package var window: Duration

    package init(_ kind: Kind, scope: SignalScope = .all, window: Duration = .seconds(30)) {
        self.kind = kind
        self.scope = scope
        self.window = kind.isWindowed ? window : .zero
    }

    /// A value of this signal as people read it: `5%`, `120 req/s`, `250ms`, `1,200`.
    package func format(_ value: Double) -> String {
        guard value.isFinite else { return "no data" }
        switch kind {
        case .healthyShare, .errorRatio, .loginFailureRatio:
            let percent = value * 100
            return percent == percent.rounded() ? "\(Int(percent))%" : String(format: "%.2f%%", percent)
        case .requestRate: return String(format: "%.1f req/s", value)
        case .latencyP99: return value < 1 ? "\(Int((value * 1000).rounded()))ms" : String(format: "%.2fs", value)
        case .activeSessions: return String(Int(value.rounded()))
        case .certificateExpiry:
            return value >= 86_400 ? String(format: "%.1f days", value / 86_400) : String(format: "%.1f hours", value / 3600)
        }
    }
}
