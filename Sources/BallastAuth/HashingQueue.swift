import Foundation

/// Admission to bcrypt: at most `slots` hashes at once (the thread pool's threads), at most
/// `maxWaiting` waiting, and the rest refused at once with 503 and Retry-After instead of
/// queueing without bound, so a flood of sign-ups cannot make every login wait seconds.
///
/// Logins (and password checks) go ahead of registrations: a freed slot goes to the oldest
/// waiting login first, and registrations may fill only `maxWaitingRegistrations` of the
/// waiting places, so logins always find room.
public actor HashingQueue {
    public enum Work: Sendable { case login, registration }

    public nonisolated let slots: Int
    public nonisolated let maxWaiting: Int
    public nonisolated let maxWaitingRegistrations: Int
    private var busy = 0
    private var logins: [CheckedContinuation<Void, Never>] = []
    private var registrations: [CheckedContinuation<Void, Never>] = []

    public init(slots: Int, maxWaiting: Int, maxWaitingRegistrations: Int? = nil) {
        self.slots = max(1, slots)
        self.maxWaiting = max(0, maxWaiting)
        self.maxWaitingRegistrations = min(self.maxWaiting, maxWaitingRegistrations ?? self.maxWaiting / 4)
    }

    /// Sized so a full queue waits about `patience` for one hash of `hashSeconds` per slot.
    public static func sized(hashSeconds: Double, slots: Int = ProcessInfo.processInfo.activeProcessorCount,
                             patience: Double = 2) -> HashingQueue {
        let waiting = Int((patience / max(hashSeconds, 0.001)).rounded(.down)) * max(1, slots)
        return HashingQueue(slots: slots, maxWaiting: min(1024, max(4, waiting)))
    }

    public var waiting: Int { logins.count + registrations.count }

    /// Runs `body` when a slot is free; throws `AuthError.overloaded` at once when the queue is full.
    public func run<T: Sendable>(_ work: Work, _ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire(work)
        do {
            let result = try await body()
            release()
            return result
        } catch {
            release()
            throw error
        }
    }

    private func acquire(_ work: Work) async throws {
        if busy < slots, waiting == 0 {
            busy += 1
            return
        }
        let full = waiting >= maxWaiting || (work == .registration && registrations.count >= maxWaitingRegistrations)
        if full { throw AuthError.overloaded(retryAfter: 1) }
        await withCheckedContinuation { continuation in
            switch work {
            case .login: logins.append(continuation)
            case .registration: registrations.append(continuation)
            }
        }
        // The slot was handed over by `release`, which kept `busy` as it was.
    }

    private func release() {
        // The queues are bounded (maxWaiting), so removing from the front stays cheap.
        if !logins.isEmpty {
            logins.removeFirst().resume()
        } else if !registrations.isEmpty {
            registrations.removeFirst().resume()
        } else {
            busy -= 1
        }
    }
}
