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

    init(index: Int, address: Address, socketAddress: SocketAddress, weight: Int, state: ServerState, key: String) {
        self.index = index
        self.address = address
        self.socketAddress = socketAddress
        self.weight = weight
        self.state = state
        self.key = key
    }
}
