/// Whether the shared database is known to be away, so callers answer at once instead of each
/// waiting out a connect timeout (a circuit breaker, as Envoy and Hystrix have them). Pure: the
/// time comes in as nanoseconds, and `SharedDatabase` runs the probes it asks for.
///
/// Only a probe (a connection of its own, outside the pool) decides that the database is away;
/// what operations see only makes it *suspect*, so a busy machine or one dropped connection does
/// not turn into a burst of refusals:
/// - an operation that lost its connection, or waited long without an answer, makes it suspect
///   and starts a probe; operations still go through;
/// - a probe refused, reset or closed: *unreachable* at once (the host is gone);
/// - a probe with no answer in time: unreachable after `timeoutsToGiveUp` in a row (a hung host),
///   since one slow probe on a loaded machine proves nothing;
/// - while unreachable no operation is tried; a probe runs every `probeInterval`, and the first
///   one answered makes it reachable again.
package struct Reachability: Sendable, Equatable {
    package enum State: Sendable, Equatable {
        case reachable
        case suspect
        case unreachable(sinceNanos: Int64, reason: String)
    }

    package enum Failure: Sendable, Equatable {
        /// The connection was refused, lost or closed by the server.
        case connection
        /// No answer within the time allowed.
        case timeout
    }

    package private(set) var state: State = .reachable
    /// A probe is running; no second one is started.
    package private(set) var probing = false
    package private(set) var probeTimeoutsInARow = 0
    package let probeIntervalNanos: Int64
    package let timeoutsToGiveUp: Int

    package init(probeIntervalNanos: Int64 = 1_000_000_000, timeoutsToGiveUp: Int = 2) {
        self.probeIntervalNanos = probeIntervalNanos
        self.timeoutsToGiveUp = max(1, timeoutsToGiveUp)
    }

    /// Whether an operation may be tried now.
    package var admits: Bool {
        if case .unreachable = state { return false }
        return true
    }

    /// An operation lost its connection or waited long for want of the database (either only
    /// makes it suspect). True when the caller must start a probe.
    package mutating func operationFailed() -> Bool {
        if state == .reachable { state = .suspect }
        return startProbe()
    }

    /// An operation was answered.
    package mutating func answered() {
        if state == .suspect, !probing { state = .reachable }
    }

    /// A probe ended: answered, or failed with `failure`. True when another one must follow
    /// (after `probeIntervalNanos`).
    package mutating func probeEnded(answered: Bool, failure: Failure = .timeout, reason: String, now: Int64) -> Bool {
        probing = false
        if answered {
            state = .reachable
            probeTimeoutsInARow = 0
            return false
        }
        if failure == .timeout { probeTimeoutsInARow += 1 }
        if case .unreachable = state {
        } else if failure == .connection || probeTimeoutsInARow >= timeoutsToGiveUp {
            state = .unreachable(sinceNanos: now, reason: reason)
        }
        return startProbe()
    }

    private mutating func startProbe() -> Bool {
        guard !probing else { return false }
        probing = true
        return true
    }
}
