/// Whether the shared database is known to be away, so callers answer at once instead of each
/// waiting out a connect timeout (a circuit breaker, as Envoy and Hystrix have them). Pure: the
/// time comes in as nanoseconds, and `SharedDatabase` runs the probes it asks for.
///
/// - A lost or refused connection is proof: the database is *unreachable*.
/// - An operation that timed out may only have been slow (a held lock, a busy pool): the
///   database becomes *suspect*, operations still go through, and one probe decides.
/// - While unreachable, no operation is tried; a probe runs every `probeInterval` and the first
///   one answered makes it reachable again.
public struct Reachability: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case reachable
        case suspect
        case unreachable(sinceNanos: Int64, reason: String)
    }

    public enum Failure: Sendable, Equatable {
        /// The connection was refused, lost or closed by the server.
        case connection
        /// No answer within the operation's time.
        case timeout
    }

    public private(set) var state: State = .reachable
    /// A probe is running; no second one is started.
    public private(set) var probing = false
    public let probeIntervalNanos: Int64

    public init(probeIntervalNanos: Int64 = 1_000_000_000) {
        self.probeIntervalNanos = probeIntervalNanos
    }

    /// Whether an operation may be tried now.
    public var admits: Bool {
        if case .unreachable = state { return false }
        return true
    }

    /// An operation failed for want of the database. True when the caller must start a probe.
    public mutating func operationFailed(_ failure: Failure, reason: String, now: Int64) -> Bool {
        switch (state, failure) {
        case (.unreachable, _):
            break
        case (_, .connection):
            state = .unreachable(sinceNanos: now, reason: reason)
        case (.reachable, .timeout):
            state = .suspect
        case (.suspect, .timeout):
            break
        }
        return startProbe()
    }

    /// An operation or a probe was answered.
    public mutating func answered() {
        state = .reachable
    }

    /// A probe ended. True when another one must follow (after `probeIntervalNanos`).
    public mutating func probeEnded(answered: Bool, reason: String, now: Int64) -> Bool {
        probing = false
        if answered {
            state = .reachable
            return false
        }
        if case .unreachable = state {} else { state = .unreachable(sinceNanos: now, reason: reason) }
        return startProbe()
    }

    private mutating func startProbe() -> Bool {
        guard !probing else { return false }
        probing = true
        return true
    }
}
