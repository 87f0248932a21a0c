import Foundation
import Synchronization
import Testing

/// The pool follows concurrency (`IdleKeep`): a burst of more requests than
/// `max_idle_per_server` keeps its server connections for the next burst instead of closing and
/// opening them again; counted at the server's accept.
@Suite(.serialized) struct PoolReuseTests {
    @Test func aBurstAboveTheIdleCapReusesItsConnectionsInTheNextBurst() async throws {
        let backend = try await TestBackend.start("a")
        backend.slowForMilliseconds.store(300, ordering: .relaxed)
        let proxy = try await ProxyHarness.start({
            simpleConfig(port: $0, servers: ["127.0.0.1:\(backend.port)"], extraUpstream: "    keepalive: { max_idle_per_server: 4 }")
        }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        let burst = (0..<48).map { _ in Burst.Request(method: "GET", path: "/slow") }

        let first = try await Burst.send(burst, port: proxy.port)
        #expect(first.allSatisfy { $0.status == 200 })
        let afterFirst = backend.connections.load(ordering: .relaxed)
        #expect(afterFirst >= 40, "the 48 requests were not in flight at once (\(afterFirst) connections): the test proves nothing")

        for _ in 0..<3 {
            let again = try await Burst.send(burst, port: proxy.port)
            #expect(again.allSatisfy { $0.status == 200 })
        }
        let opened = backend.connections.load(ordering: .relaxed) - afterFirst
        // The old pool kept 4 and opened about 44 new connections per burst (132 here).
        #expect(opened <= 8, "\(opened) connections opened for three more bursts of 48 with 48 kept from the first")
    }

    @Test func aCapOfZeroStillOpensAConnectionPerRequest() async throws {
        let backend = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start({
            simpleConfig(port: $0, servers: ["127.0.0.1:\(backend.port)"], extraUpstream: "    keepalive: { max_idle_per_server: 0 }")
        }, threads: 1)
        defer { Task { await proxy.stop(); await backend.stop() } }
        let burst = (0..<8).map { _ in Burst.Request(method: "GET", path: "/") }
        for _ in 0..<3 { #expect(try await Burst.send(burst, port: proxy.port).allSatisfy { $0.status == 200 }) }
        #expect(backend.connections.load(ordering: .relaxed) == 24)
    }
}
