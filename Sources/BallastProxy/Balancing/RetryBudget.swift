/// How many retries an upstream may take, per event loop: at most `budget_percent` of the
/// requests it was sent over the last 10 s, and at least 10 per 10 s so that a quiet upstream can
/// still retry (Finagle's retry budget, as a sliding window instead of a token bucket). A budget
/// of 0% allows none.
///
/// A window of requests, not a count of retries in flight (Envoy's budget), because the two
/// failures the budget must tell apart both come at once: a frozen server's stuck requests all
/// time out together and each deserves its one retry, while an upstream that fails fast keeps
/// few requests in flight, so a floor of retries in flight let nearly every request retry.
struct RetryBudget {
    /// The window is this many sweeps (250 ms each) long.
    static let slots = 40
    /// Retries always allowed per window, whatever the traffic.
    static let floor = 10

    private var requests = [Int](repeating: 0, count: slots)
    private var retries = [Int](repeating: 0, count: slots)
    private var slot = 0
    /// Sums over the whole window, the current slot included.
    private(set) var requestsInWindow = 0
    private(set) var retriesInWindow = 0

    /// A request's first attempt: it adds to what the budget allows.
    @inline(__always)
    mutating func requestStarted() {
        requests[slot] &+= 1
        requestsInWindow &+= 1
    }

    func allowsRetry(percent: Double) -> Bool {
        percent > 0 && Double(retriesInWindow) < max(Double(Self.floor), Double(requestsInWindow) * percent / 100)
    }

    mutating func retryStarted() {
        retries[slot] += 1
        retriesInWindow += 1
    }

    /// Called by every sweep: the oldest 250 ms leave the window.
    mutating func advance() {
        slot = (slot + 1) % Self.slots
        requestsInWindow -= requests[slot]
        retriesInWindow -= retries[slot]
        requests[slot] = 0
        retries[slot] = 0
    }
}
