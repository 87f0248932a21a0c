import BallastConfig

/// Envoy's circuit breakers for one upstream: whether a request goes on now, waits for a
/// connection or a server, or gets 503 at once (pure; the counts come from the atomics every
/// loop shares; `CircuitBreakerTests`).
///
/// A request beyond `max_requests_per_server` (every server it may go to has that many under
/// way) or `max_connections` (it needs a new connection and the upstream has that many open or
/// opening) waits in a queue of `max_pending` requests for `queue_timeout`; with the queue full
/// it is refused. A waiting request is tried again when a request or a connection of its
/// upstream ends on its loop, and at each sweep (for what other loops free).
struct CircuitBreaker: Equatable, Sendable {
    enum Limit: String, CaseIterable, Sendable {
        case maxConnections = "max_connections"
        case maxPending = "max_pending"
        case maxRequestsPerServer = "max_requests_per_server"
    }

    enum Admission: Equatable {
        /// Under every cap.
        case go
        /// Over `limit`: wait in the queue.
        case wait(Limit)
        /// Over `limit` with the queue full (`max_pending`), or waited out its deadline.
        case refuse(Limit)
    }

    let maxConnections: Int?
    let maxRequestsPerServer: Int?
    let maxPending: Int
    /// Nanoseconds a request may wait.
    let queueTimeout: Int64

    init(_ limits: UpstreamLimits) {
        maxConnections = limits.maxConnections
        maxRequestsPerServer = limits.maxRequestsPerServer
        maxPending = limits.maxPending
        queueTimeout = limits.queueTimeout.milliseconds * 1_000_000
    }

    /// Whether a server with `requests` under way takes one more.
    func serverHasRoom(requests: Int) -> Bool {
        maxRequestsPerServer.map { requests < $0 } ?? true
    }

    /// What becomes of a request. `serverFree`: a server it may go to is under its request cap;
    /// `needsConnection`: no kept-alive connection waits for it; `connections`: open or opening
    /// to the upstream; `pending`: waiting in the queue, this one not counted; `queued`: it is
    /// already waiting (and so has its place).
    func admit(serverFree: Bool, needsConnection: Bool, connections: Int, pending: Int, queued: Bool) -> Admission {
        let over: Limit?
        if !serverFree {
            over = .maxRequestsPerServer
        } else if needsConnection, let cap = maxConnections, connections >= cap {
            over = .maxConnections
        } else {
            over = nil
        }
        guard let over else { return .go }
        if queued { return .wait(over) }
        return pending < maxPending ? .wait(over) : .refuse(.maxPending)
    }

    /// A waiting request's deadline passed: it is refused for the limit it waited on.
    func expired(waitingSince: Int64, now: Int64) -> Bool { now - waitingSince >= queueTimeout }
}

/// Requests of one event loop waiting for an upstream's capacity, oldest first (pure; the loop
/// tries them again in this order).
struct PendingQueue<Waiter: AnyObject> {
    private var waiters: [Waiter] = []
    /// The waiters present, so an append is not a scan of a queue of up to `max_pending`.
    private var present: Set<ObjectIdentifier> = []

    var isEmpty: Bool { waiters.isEmpty }
    var count: Int { waiters.count }

    mutating func append(_ waiter: Waiter) {
        if present.insert(ObjectIdentifier(waiter)).inserted { waiters.append(waiter) }
    }

    mutating func remove(_ waiter: Waiter) {
        guard present.remove(ObjectIdentifier(waiter)) != nil else { return }
        waiters.removeAll { $0 === waiter }
    }

    /// Takes the waiters out, oldest first: each is tried and put back with `append` while it
    /// still waits (it keeps its place among those that follow).
    mutating func takeAll() -> [Waiter] {
        defer {
            waiters.removeAll(keepingCapacity: true)
            present.removeAll(keepingCapacity: true)
        }
        return waiters
    }
}
