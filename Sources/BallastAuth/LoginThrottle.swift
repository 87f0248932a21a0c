import Foundation

/// When a login may be tried again, from the failures counted in the shared store.
///
/// A "client" is its network (`ClientNetwork.key`: the IPv4 address, or the IPv6 /64), so that
/// rotating addresses inside one allocation does not buy fresh budgets. Every attempt is counted
/// before its password is verified (`AuthStore.reserveAttempt`), atomically with the decision,
/// so N concurrent guesses verify at most what the counts allow; a login that succeeds takes
/// its count back.
///
/// Three counts, all per hour (ASVS 2.2.1):
/// - `account|ip`: exponential back-off after `freePerAccountAndIP` failures, capped at
///   `maxDelay`, so one attacker slows only themselves;
/// - `ip`: the same after `freePerIP` failures, against one address trying many accounts;
/// - `account`: a hard stop after `maxPerAccountPerHour` failures from anywhere, which lifts when
///   the hour ends: a distributed attacker can delay a user, never lock them out for good.
package struct LoginThrottle: Sendable {
    package var freePerAccountAndIP = 5
    package var freePerIP = 20
    package var maxPerAccountPerHour = 100
    package var baseDelay: TimeInterval = 1
    package var maxDelay: TimeInterval = 900
    package var window: TimeInterval = 3600
    /// Registrations (each a bcrypt hash, and an answer to "is this name taken?") per client
    /// network per window.
    package var registrationsPerNetwork = 30

    package init() {}

    package func keys(username: String, clientIP: String) -> [String] {
        let account = username.lowercased()
        let network = ClientNetwork.key(clientIP)
        return ["acct:\(account)", "acctip:\(account)|\(network)", "ip:\(network)"]
    }

    package func registrationKeys(clientIP: String) -> [String] { ["reg:\(ClientNetwork.key(clientIP))"] }

    /// Seconds until the client's network may register again, or nil.
    package func registrationRetryAfter(_ records: [String: ThrottleRecord], now: Date) -> TimeInterval? {
        var wait: TimeInterval = 0
        for (_, record) in records where now < record.windowStart.addingTimeInterval(window) && record.failures >= registrationsPerNetwork {
            wait = max(wait, record.windowStart.addingTimeInterval(window).timeIntervalSince(now))
        }
        return wait > 0 ? wait : nil
    }

    /// Seconds to wait before the next try, or nil when a try is allowed now.
    package func retryAfter(_ records: [String: ThrottleRecord], now: Date) -> TimeInterval? {
        var wait: TimeInterval = 0
        for (key, record) in records where now < record.windowStart.addingTimeInterval(window) {
            if key.hasPrefix("acct:") {
                if record.failures >= maxPerAccountPerHour {
                    wait = max(wait, record.windowStart.addingTimeInterval(window).timeIntervalSince(now))
                }
            } else {
                let free = key.hasPrefix("ip:") ? freePerIP : freePerAccountAndIP
                guard record.failures >= free else { continue }
                let delay = min(maxDelay, baseDelay * pow(2, Double(record.failures - free)))
                let until = record.lastFailure.addingTimeInterval(delay)
                if until > now { wait = max(wait, until.timeIntervalSince(now)) }
            }
        }
        return wait > 0 ? wait : nil
    }
}
