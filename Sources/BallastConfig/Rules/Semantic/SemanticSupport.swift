import Foundation

/// What the semantic rules (BL052–BL062) compute from a config: how long the health check
/// takes to act, which routes and alerts lean on an upstream, durations in plain words.
extension HealthCheck {
    /// Longest time from a server's death to the check marking it down: `unhealthy_after`
    /// failed probes one interval apart, the last one failing only at its timeout.
    var detection: Duration { interval * unhealthyAfter + timeout }
    /// Time from a server's recovery to its return: `healthy_after` passed probes.
    var recovery: Duration { interval * healthyAfter }
}

extension Duration {
    /// The duration as people say it: `7 s`, `1 min 40 s`, `2 h`.
    var spoken: String {
        let ms = milliseconds
        if ms < 1000 { return "\(ms) ms" }
        let seconds = ms / 1000
        if seconds < 120 { return ms % 1000 == 0 ? "\(seconds) s" : String(format: "%.1f s", Double(ms) / 1000) }
        let minutes = seconds / 60, rest = seconds % 60
        if minutes < 120 { return rest == 0 ? "\(minutes) min" : "\(minutes) min \(rest) s" }
        let hours = minutes / 60, restMinutes = minutes % 60
        return restMinutes == 0 ? "\(hours) h" : "\(hours) h \(restMinutes) min"
    }

    var seconds: Double { Double(milliseconds) / 1000 }
}

extension Config {
    /// Every route (with its source path) that sends to `upstream`.
    func routes(to upstream: String) -> [(path: String, route: Route)] {
        listeners.enumerated().flatMap { l, listener in
            listener.routes.enumerated().compactMap { r, route in
                route.upstream == upstream ? ("listeners[\(l)].routes[\(r)]", route) : nil
            }
        }
    }

    /// Whether an alert scoped to `scope` watches traffic of `upstream`.
    func scope(_ scope: SignalScope, covers upstream: String) -> Bool {
        switch scope {
        case .all: true
        case .upstream(let name), .server(let name, _): name == upstream
        case .route(let name): routes(to: upstream).contains { $0.route.name == name }
        }
    }

    /// The routes an alert scope measures.
    func routes(in scope: SignalScope) -> [Route] {
        let all = listeners.flatMap(\.routes)
        switch scope {
        case .all: return all
        case .route(let name): return all.filter { $0.name == name }
        case .upstream(let name), .server(let name, _): return all.filter { $0.upstream == name }
        }
    }
}

extension Route {
    /// The longest a request of this route can take before the balancer answers it itself:
    /// every attempt connecting and waiting for its response to the end.
    var longestRequest: Duration { (timeouts.connect + timeouts.response) * retries.attempts }

    /// Whether the route takes requests with a body (POST, PUT, PATCH, or any method).
    var acceptsBodies: Bool {
        guard let methods = match.methods else { return true }
        return methods.contains { ["POST", "PUT", "PATCH"].contains($0.uppercased()) }
    }
}

/// Formats a number with thousands separators, as the messages print counts.
func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return value < 0 ? "-" + out : out
}

/// A number without a needless `.0`.
func plain(_ value: Double) -> String {
    let tenths = (value * 10).rounded() / 10
    return tenths == tenths.rounded() && abs(tenths) < 1e15 ? String(Int(tenths)) : String(format: "%.1f", tenths)
}
