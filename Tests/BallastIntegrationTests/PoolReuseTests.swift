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

    @Test func aThousandConcurrentClientsAreAllAnswered() async throws {
        let backend = try await TestBackend.start("a")
        backend.slowForMilliseconds.store(200, ordering: .relaxed)
        let proxy = try await ProxyHarness.start({
            simpleConfig(port: $0, servers: ["127.0.0.1:\(backend.port)"],
                         listenerExtra: "    limits: { max_connections: 4000, max_connections_per_client: 2000 }")
        }, threads: 2)
        defer { Task { await proxy.stop(); await backend.stop() } }
        // Every client sends before any reads: all 1,000 are in flight at once.
        let answers = try await Burst.send((0..<1000).map { i in Burst.Request(method: "GET", path: i % 2 == 0 ? "/slow" : "/") }, port: proxy.port)
        let failed = answers.enumerated().filter { $0.element.status != 200 }
        #expect(failed.isEmpty, "\(failed.count) of 1,000 not answered 200, e.g. \(failed.prefix(3).map { "\($0.offset): \($0.element.status) \($0.element.body)" })")
        #expect(backend.requests.load(ordering: .relaxed) >= 1000)
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
