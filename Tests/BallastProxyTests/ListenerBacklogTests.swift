import BallastConfig
import Testing
@testable import BallastProxy

/// The accept queue follows the listener's `max_connections` (as HAProxy's backlog follows
/// maxconn), so a burst of connections is not dropped into SYN retries.
@Suite struct ListenerBacklogTests {
    static func listener(_ maxConnections: Int) -> Listener {
        var listener = Listener(name: "public", listen: Address(host: "127.0.0.1", port: 8080))
        listener.limits.maxConnections = maxConnections
        return listener
    }

    @Test func theBacklogIsTheConnectionLimitBetweenItsBounds() {
        #expect(LoadBalancer.backlog(Self.listener(100)) == 1_024)
        #expect(LoadBalancer.backlog(Self.listener(9_872)) == 9_872)
        #expect(LoadBalancer.backlog(Self.listener(1_000_000)) == 65_535)
    }
}
