/// Admission to the throttle's reservations on one replica: at most `concurrent` at a time,
/// at most `maxWaiting` waiting, the rest refused at once (503).
///
/// A reservation waits in PostgreSQL for the lock of its keys while holding a pooled
/// connection; forty concurrent guesses on one account would otherwise take every connection
/// of the replica's pool and stall its session checks. Waiting here costs no connection.
/// Logins are bounded by bcrypt (a few per core a second), so serialising their reservations
/// costs no throughput.
actor ReservationGate {
    let concurrent: Int
    let maxWaiting: Int
    private var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(concurrent: Int = 2, maxWaiting: Int = 256) {
        self.concurrent = max(1, concurrent)
        self.maxWaiting = maxWaiting
    }

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if running < concurrent {
            running += 1
        } else {
            guard waiting.count < maxWaiting else { throw AuthError.overloaded(retryAfter: 1) }
            await withCheckedContinuation { waiting.append($0) }
        }
        defer {
            if waiting.isEmpty { running -= 1 } else { waiting.removeFirst().resume() }
        }
        return try await body()
    }
}
