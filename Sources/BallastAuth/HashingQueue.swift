import Foundation

/// Admission to bcrypt: at most `slots` hashes at once (the thread pool's threads), at most
/// `maxWaiting` waiting, and the rest refused at once with 503 and Retry-After instead of
/// queueing without bound, so a flood of sign-ups cannot make every login wait seconds.
///
/// Logins (and password checks) go ahead of registrations: a freed slot goes to the oldest
/// waiting login first, and registrations may fill only `maxWaitingRegistrations` of the
/// waiting places, so logins always find room.
package actor HashingQueue {
    package enum Work: Sendable { case login, registration }

    package nonisolated let slots: Int
    package nonisolated let maxWaiting: Int
    package nonisolated let maxWaitingRegistrations: Int
    /// Slots registrations may hold at once (half, at least one): a login arriving during a
    /// flood of sign-ups finds a slot free, or frees soon, instead of waiting behind all of them.
    package nonisolated let registrationSlots: Int
    private var busy = 0
    private var busyRegistrations = 0
    private var logins: [CheckedContinuation<Void, Never>] = []
    private var registrations: [CheckedContinuation<Void, Never>] = []

    package init(slots: Int, maxWaiting: Int, maxWaitingRegistrations: Int? = nil) {
        self.slots = max(1, slots)
        self.maxWaiting = max(0, maxWaiting)
        self.maxWaitingRegistrations = min(self.maxWaiting, maxWaitingRegistrations ?? self.maxWaiting / 4)
        self.registrationSlots = max(1, self.slots / 2)
    }

    /// Sized so a full queue waits about `patience` for one hash of `hashSeconds` per slot.
    package static func sized(hashSeconds: Double, slots: Int = ProcessInfo.processInfo.activeProcessorCount,
                             patience: Double = 2) -> HashingQueue {
        let waiting = Int((patience / max(hashSeconds, 0.001)).rounded(.down)) * max(1, slots)
        return HashingQueue(slots: slots, maxWaiting: min(1024, max(4, waiting)))
    }

    package var waiting: Int { logins.count + registrations.count }

    /// Runs `body` when a slot is free; throws `AuthError.overloaded` at once when the queue is full.
    package func run<T: Sendable>(_ work: Work, _ body: @Sendable () async throws -> T) async throws -> T {
        try await acquire(work)
        do {
            let result = try await body()
            release(work)
            return result
        } catch {
            release(work)
            throw error
        }
    }

    private func acquire(_ work: Work) async throws {
        switch work {
        case .login where busy < slots && logins.isEmpty:
            busy += 1
            return
        case .registration where busy < slots && busyRegistrations < registrationSlots && waiting == 0:
            busy += 1
            busyRegistrations += 1
            return
        default:
            break
        }
        let full = waiting >= maxWaiting || (work == .registration && registrations.count >= maxWaitingRegistrations)
        if full { throw AuthError.overloaded(retryAfter: 1) }
        await withCheckedContinuation { continuation in
            switch work {
            case .login: logins.append(continuation)
            case .registration: registrations.append(continuation)
            }
        }
        // `dispatch` counted the slot before it resumed this job.
    }

    private func release(_ work: Work) {
        busy -= 1
        if work == .registration { busyRegistrations -= 1 }
        dispatch()
    }

    /// Hands free slots to waiting jobs: logins first, registrations within their share. The
    /// queues are bounded (maxWaiting), so removing from the front stays cheap.
    private func dispatch() {
        while busy < slots {
            if !logins.isEmpty {
                busy += 1
                logins.removeFirst().resume()
            } else if !registrations.isEmpty, busyRegistrations < registrationSlots {
                busy += 1
                busyRegistrations += 1
                registrations.removeFirst().resume()
            } else {
                return
            }
        }
    }
}
