/// How many idle connections to one server an event loop keeps (pure; `ConnectionPool` holds
/// one per server; `IdleKeepTests`).
///
/// `keepalive.max_idle_per_server` bounds what is kept idle after a burst, not what is in use:
/// while more requests are in flight to a server than the cap, a connection that finishes is
/// kept for the next one instead of being closed and opened again (connect/close churn). What
/// was needed lately is kept, as HAProxy keeps its idle server connections: the most requests in
/// flight at once in this period or the one before (`period`, like HAProxy's
/// `pool-purge-delay`); a period after a burst ends, the surplus over the cap is closed.
/// The idle timeout (`keepalive.idle_timeout`) applies as before, and a cap of 0 still means no
/// connection is kept.
struct IdleKeep: Equatable {
    /// How long a burst's need is remembered.
    static let period: Int64 = 5_000_000_000

    /// The most requests in flight at once to the server, this period and the one before.
    private(set) var peak = 0
    private(set) var lastPeak = 0
    private(set) var periodEnd: Int64

    init(now: Int64) { periodEnd = now + Self.period }

    /// How many idle connections are kept now; none when the cap is 0 (a server that must get a
    /// connection per request).
    func limit(maxIdle: Int) -> Int { maxIdle == 0 ? 0 : max(maxIdle, peak, lastPeak) }

    /// A connection comes back while `inFlight` requests (its own included) are under way to the
    /// server: whether it joins `idle` others or is closed.
    mutating func keepsReturned(idle: Int, inFlight: Int, maxIdle: Int) -> Bool {
        if inFlight > peak { peak = inFlight }
        return idle < limit(maxIdle: maxIdle)
    }

    /// The periodic sweep: a period that ended is remembered as the last; the answer is how many
    /// of `idle` connections to close (the coldest) to come down to the limit.
    mutating func sweep(now: Int64, idle: Int, maxIdle: Int) -> Int {
        if now >= periodEnd {
            // A period with no request at all leaves nothing to remember.
            lastPeak = now >= periodEnd + Self.period ? 0 : peak
            peak = 0
            periodEnd = now + Self.period
        }
        return max(0, idle - limit(maxIdle: maxIdle))
    }
}
