import BallastConfig
import Testing
@testable import BallastProxy

/// `CircuitBreaker` and `PendingQueue`: which cap a request meets, when it waits, when the queue
/// is full, when a wait is over.
@Suite struct CircuitBreakerTests {
    static func breaker(connections: Int? = nil, perServer: Int? = nil, pending: Int = 2, queue: Duration = .seconds(1)) -> CircuitBreaker {
        var limits = UpstreamLimits()
        limits.maxConnections = connections
        limits.maxRequestsPerServer = perServer
        limits.maxPending = pending
        limits.queueTimeout = queue
        return CircuitBreaker(limits)
    }

    @Test func underEveryCapARequestGoesOn() {
        let b = Self.breaker(connections: 10, perServer: 5)
        #expect(b.admit(serverFree: true, needsConnection: true, connections: 9, pending: 0, queued: false) == .go)
        #expect(b.admit(serverFree: true, needsConnection: false, connections: 10, pending: 0, queued: false) == .go,
                "a kept-alive connection needs no new one")
        #expect(b.serverHasRoom(requests: 4) && !b.serverHasRoom(requests: 5))
        #expect(Self.breaker().serverHasRoom(requests: 1_000_000), "no per-server cap")
    }

    @Test func overACapARequestWaitsWhileTheQueueHasRoomThenIsRefused() {
        let b = Self.breaker(connections: 10, perServer: 5, pending: 2)
        #expect(b.admit(serverFree: false, needsConnection: false, connections: 0, pending: 0, queued: false) == .wait(.maxRequestsPerServer))
        #expect(b.admit(serverFree: true, needsConnection: true, connections: 10, pending: 1, queued: false) == .wait(.maxConnections))
        #expect(b.admit(serverFree: true, needsConnection: true, connections: 10, pending: 2, queued: false) == .refuse(.maxPending))
        #expect(b.admit(serverFree: true, needsConnection: true, connections: 10, pending: 2, queued: true) == .wait(.maxConnections),
                "a request already waiting keeps its place in a full queue")
        #expect(Self.breaker(perServer: 1, pending: 0).admit(serverFree: false, needsConnection: false, connections: 0, pending: 0, queued: false)
            == .refuse(.maxPending), "max_pending 0: nothing waits")
    }

    @Test func aWaitEndsAtItsDeadline() {
        let b = Self.breaker(perServer: 1, queue: .milliseconds(200))
        #expect(!b.expired(waitingSince: 1_000, now: 1_000 + 199_999_999))
        #expect(b.expired(waitingSince: 1_000, now: 1_000 + 200_000_000))
    }

    final class Waiter {}

    @Test func theQueueKeepsItsOrderAndEachWaiterOnce() {
        var queue = PendingQueue<Waiter>()
        let a = Waiter(), b = Waiter(), c = Waiter()
        queue.append(a)
        queue.append(b)
        queue.append(a)
        queue.append(c)
        #expect(queue.count == 3)
        queue.remove(b)
        let taken = queue.takeAll()
        #expect(taken.count == 2 && taken[0] === a && taken[1] === c && queue.isEmpty)
    }

    @Test func limitsAreCountedOnlyWhenACapIsSet() {
        var limits = UpstreamLimits()
        #expect(!limits.isSet)
        limits.maxPending = 5
        #expect(!limits.isSet, "a queue without a cap never fills")
        limits.maxConnections = 1
        #expect(limits.isSet)
    }
}
