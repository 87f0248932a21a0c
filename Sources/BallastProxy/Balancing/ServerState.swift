import BallastConfig
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// The live state of one server, shared by every event loop and kept across reloads while the
/// server stays in its upstream. Reads on the request path are single atomic loads.
package final class ServerState: Sendable {
    package let address: Address
    let healthy = Atomic<Bool>(true)
    let ejectedUntil = Atomic<Int64>(0)
    /// Non-zero while the outlier detector has failures counted for this server.
    let hasFailures = Atomic<Bool>(false)
    /// Connections open or opening to this server, every loop together (`UpstreamConnection`).
    let connections = Atomic<Int>(0)
    /// Requests under way to this server, every loop together; counted only while its upstream
    /// has `limits` (`CircuitBreaker`).
    let requests = Atomic<Int>(0)

    init(address: Address) { self.address = address }

    package var isHealthy: Bool { healthy.load(ordering: .relaxed) }

    package func isEjected(now: Int64) -> Bool { ejectedUntil.load(ordering: .relaxed) > now }

    @inline(__always)
    func isAvailable(now: Int64) -> Bool {
        healthy.load(ordering: .relaxed) && ejectedUntil.load(ordering: .relaxed) <= now
    }
}

/// One server of a compiled upstream: its config and its shared state.
///
/// A class, not a struct: requests pass it around several times, and copying a struct of two
/// strings, a socket address and a reference cost four retain/release pairs per copy
/// (measured, docs/performance.md); a class reference costs one.
package final class ServerTarget: Sendable {
    package let index: Int
    package let address: Address
    package let socketAddress: SocketAddress
    package let weight: Int
    package let state: ServerState
    /// `host:port` for labels and logs.
    package let key: String
    /// The upstream's `tls:`, nil for cleartext.
    let tls: UpstreamTLSContext?

    init(index: Int, address: Address, socketAddress: SocketAddress, weight: Int, state: ServerState, key: String,
         tls: UpstreamTLSContext? = nil) {
        self.tls = tls
        self.index = index
        self.address = address
        self.socketAddress = socketAddress
        self.weight = weight
        self.state = state
        self.key = key
    }
}

/// What the circuit breaker of one upstream counts across loops, kept across reloads with the
/// upstream's name: requests waiting, and when an overflow last reached the timeline.
package final class UpstreamCounters: Sendable {
    let pending = Atomic<Int>(0)
    /// Overflows since the last timeline event, and when that was (monotonic nanoseconds).
    let overflows = Atomic<Int>(0)
    let lastEvent = Atomic<Int64>(0)
    /// The timeline hears of overflows at most this often per upstream.
    static let eventEvery: Int64 = 10_000_000_000

    init() {}

    /// An overflow happened at `now`: true (with the count since the last) when it is time to
    /// tell the timeline.
    func overflowed(now: Int64) -> Int? {
        let count = overflows.wrappingAdd(1, ordering: .relaxed).newValue
        let last = lastEvent.load(ordering: .relaxed)
        guard last == 0 || now - last >= Self.eventEvery,
              lastEvent.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return nil }
        overflows.store(0, ordering: .relaxed)
        return count
    }
}
