import BallastAPI
import BallastConfig
import Foundation

/// An alert as the API, the dashboard and the notifications show it.

/// One rule's state machine, Prometheus' way: inactive → pending (condition holds) → firing
/// (held for `for:`) → resolved (condition gone) → inactive. Anomaly rules also keep their
/// baseline here: an EWMA that stops learning while the rule is pending or firing, so a fall
/// is compared with what was normal before it, not with itself.
struct RuleEvaluator {
    enum Transition { case fired(AlertStatus), resolved(AlertStatus) }

    let rule: AlertRule
    private(set) var status: AlertStatus
    private var baseline: Double?
    private var baselineSince: Double?
    private var lastTime: Double?
    /// Recent values of an anomaly's signal, so a sudden change is seen even while the EWMA
    /// still lags behind a level that grew (sessions ramping up after a start).
    private var recent = Ring(capacity: 64)

    init(rule: AlertRule) {
        self.rule = rule
        var labels = ["alertname": rule.name, "severity": rule.severity.rawValue]
        switch rule.condition.scope {
        case .all: break
        case .route(let name): labels["route"] = name
        case .upstream(let name): labels["upstream"] = name
        case .server(let upstream, let server): labels["upstream"] = upstream; labels["server"] = server
        }
        status = AlertStatus(name: rule.name, severity: rule.severity, summary: rule.summary, runbook: rule.runbook,
                             labels: labels, state: .inactive, condition: Self.describe(rule.condition), value: "no data",
                             fingerprint: Self.fingerprint(labels))
    }

    /// Carries state over from the evaluator of the same rule in the previous config.
    mutating func inherit(_ old: RuleEvaluator) {
        guard old.rule.condition == rule.condition else { return }
        status.state = old.status.state
        status.activeSince = old.status.activeSince
        status.firingSince = old.status.firingSince
        status.resolvedAt = old.status.resolvedAt
        baseline = old.baseline
        baselineSince = old.baselineSince
        lastTime = old.lastTime
        recent = old.recent
    }

    /// Signals this rule reads.
    var signals: [Signal] {
        switch rule.condition {
        case .threshold(let signal, _, _), .anomaly(let signal, _): [signal]
        case .burnRate(let scope, _, let windows):
            windows.flatMap { [Signal(.errorRatio, scope: scope, window: $0.long), Signal(.errorRatio, scope: scope, window: $0.short)] }
        }
    }

    mutating func evaluate(_ book: SignalBook, now: Double) -> Transition? {
        let holds = check(book, now: now)
        let date = Date(timeIntervalSince1970: now)
        switch (status.state, holds) {
        case (.inactive, true):
            status.activeSince = date
            status.state = .pending
            return promoteIfDue(now: now)
        case (.pending, true):
            return promoteIfDue(now: now)
        case (.pending, false):
            status.state = .inactive
            status.activeSince = nil
        case (.firing, false):
            status.state = .inactive
            status.resolvedAt = date
            status.activeSince = nil
            return .resolved(status)
        case (.firing, true), (.inactive, false):
            break
        }
        return nil
    }

    private mutating func promoteIfDue(now: Double) -> Transition? {
        guard let since = status.activeSince?.timeIntervalSince1970,
              now - since >= Double(rule.forDuration.milliseconds) / 1000 - 0.001 else { return nil }
        status.state = .firing
        status.firingSince = Date(timeIntervalSince1970: now)
        return .fired(status)
    }

    private mutating func check(_ book: SignalBook, now: Double) -> Bool {
        switch rule.condition {
        case .threshold(let signal, let comparison, let limit):
            let value = book.value(signal)
            status.value = signal.format(value)
            guard value.isFinite else { return false }
            return comparison == .above ? value > limit : value < limit
        case .burnRate(let scope, let objective, let windows):
            let budget = 1 - objective
            var worst = Double.nan
            var holds = false
            for window in windows {
                let long = book.value(Signal(.errorRatio, scope: scope, window: window.long)) / budget
                let short = book.value(Signal(.errorRatio, scope: scope, window: window.short)) / budget
                if long.isFinite { worst = worst.isNaN ? long : max(worst, long) }
                if long.isFinite, short.isFinite, long >= window.factor, short >= window.factor { holds = true }
            }
            status.value = worst.isFinite ? String(format: "burn rate %.1f×", worst) : "no data"
            return holds
        case .anomaly(let signal, let anomaly):
            let value = book.value(signal)
            defer { lastTime = now }
            guard value.isFinite else {
                status.value = "no data"
                return false
            }
            guard let base = baseline, let since = baselineSince else {
                baseline = value
                baselineSince = now
                status.value = "\(signal.format(value)) (learning the baseline)"
                return false
            }
            let warm = now - since >= Double(anomaly.warmup.milliseconds) / 1000
            let tau = max(0.001, Double(anomaly.baseline.milliseconds) / 1000)
            // The reference is the EWMA or the value up to 30 s ago, whichever is further from
            // the change looked for: a sudden fall shows against either.
            let past = recent.atLeast(min(30, tau), before: now)?.value ?? base
            let reference = anomaly.direction == .drop ? max(base, past) : min(base, past)
            let deviates: Bool
            switch anomaly.direction {
            case .drop: deviates = value <= reference * (1 - anomaly.change) + 1e-9 * abs(reference) && reference - value >= anomaly.minChange
            case .rise: deviates = value >= reference * (1 + anomaly.change) - 1e-9 * abs(reference) && value - reference >= anomaly.minChange
            }
            status.value = "\(signal.format(value)) against a baseline of \(signal.format(reference))"
            var holds = warm && deviates
            // A level that stays changed for ten baseline periods becomes the new normal.
            if holds, status.state == .firing, let firing = status.firingSince?.timeIntervalSince1970, now - firing > 10 * tau {
                baseline = value
                recent = Ring(capacity: 64)
                holds = false
            }
            // Learn only while nothing is wrong; a fall must not become the new normal.
            if !holds, status.state == .inactive {
                let dt = max(0, now - (lastTime ?? now))
                baseline = base + (1 - exp(-dt / tau)) * (value - base)
                recent.append(now, value)
            }
            return holds
        }
    }

    static func describe(_ condition: AlertCondition) -> String {
        switch condition {
        case .threshold(let signal, let comparison, let limit):
            let window = signal.kind.isWindowed ? " over \(signal.window.configText)" : ""
            return "\(signal.kind.rawValue) of \(signal.scope)\(window) \(comparison.symbol) \(signal.format(limit))"
        case .burnRate(let scope, let objective, let windows):
            let pairs = windows.map { "\($0.long.configText)/\($0.short.configText) at \(formatFactor($0.factor))×" }
            return "error budget of \(scope) (objective \(formatFactor(objective * 100))%) burning at \(pairs.joined(separator: " or "))"
        case .anomaly(let signal, let anomaly):
            let window = signal.kind.isWindowed ? " over \(signal.window.configText)" : ""
            let verb = anomaly.direction == .drop ? "fell" : "rose"
            return "\(signal.kind.rawValue)\(window) \(verb) \(formatFactor(anomaly.change * 100))% or more against its \(anomaly.baseline.configText) baseline"
        }
    }

    private static func formatFactor(_ value: Double) -> String {
        String(format: "%g", value)
    }

    static func fingerprint(_ labels: [String: String]) -> String {
        // FNV-1a 64 over the sorted labels: stable across processes and versions.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            for byte in Array(key.utf8) + [0xff] + Array(value.utf8) + [0xfe] {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return String(hash, radix: 16).leftPadded(to: 16)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
