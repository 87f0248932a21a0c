import BallastConfig
import BallastProxy
import Foundation
import NIOConcurrencyHelpers
import Synchronization
import Testing

/// Upstream `limits` (Envoy's circuit breakers) on real sockets: a request beyond a cap waits
/// its turn or gets 503 at once; each overflow is a metric and a timeline event; a queue
/// deadline is kept.
@Suite(.serialized) struct CircuitBreakerIntegrationTests {
    static func start(_ backend: TestBackend, upstream: String, limits: String,
                      events: NIOLockedValueBox<[ProxyEvent]>? = nil) async throws -> (LoadBalancer, Int) {
        _ = TestMetrics.registry
        let port = try await freePort()
        let yaml = simpleConfig(port: port, servers: ["127.0.0.1:\(backend.port)"], extraUpstream: "    limits: \(limits)",
                                route: upstream, upstream: upstream)
        let config = try ConfigLoader.load(text: yaml, file: "test.yaml").get().config
        let balancer = try LoadBalancer(config: config, threads: 1, events: { event in events?.withLockedValue { $0.append(event) } })
        try await balancer.start()
        return (balancer, port)
    }

    static func overflows(_ upstream: String, _ limit: String) -> Int {
        TestMetrics.text.split(separator: "\n")
            .filter { $0.hasPrefix("ballast_upstream_overflow_total{") && $0.contains(#"upstream="\#(upstream)""#) && $0.contains(#"limit="\#(limit)""#) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +).rounded().toInt
    }

    @Test func beyondThePerServerCapWithNoQueueTheRestGet503AndAreCounted() async throws {
        let backend = try await TestBackend.start("a")
        backend.slowForMilliseconds.store(600, ordering: .relaxed)
        let events = NIOLockedValueBox<[ProxyEvent]>([])
        let (balancer, port) = try await Self.start(backend, upstream: "brk-server", limits: "{ max_requests_per_server: 2, max_pending: 0 }",
                                                    events: events)
        defer { Task { await balancer.shutdown(drainFor: .seconds(1)); await backend.stop() } }
        let answers = try await Burst.send((0..<5).map { _ in Burst.Request(method: "GET", path: "/slow") }, port: port)
        #expect(answers.filter { $0.status == 200 }.count == 2, "\(answers.map(\.status))")
        let refused = answers.filter { $0.status == 503 }
        #expect(refused.count == 3)
        #expect(refused.allSatisfy { $0.body.contains("upstream_overloaded") && $0.head.contains("retry-after: 1") })
        #expect(Self.overflows("brk-server", "max_pending") == 3)
        let overflowEvents = events.withLockedValue { $0 }.filter { if case .upstreamOverflow = $0 { true } else { false } }
        #expect(overflowEvents == [.upstreamOverflow(upstream: "brk-server", limit: "max_pending", count: 1)],
                "one timeline event for a burst of overflows, not one each")
    }

    @Test func queuedRequestsAreServedInTurnWithNoMoreThanTheCapAtTheServer() async throws {
        let backend = try await TestBackend.start("a")
        backend.slowForMilliseconds.store(200, ordering: .relaxed)
        let (balancer, port) = try await Self.start(backend, upstream: "brk-queue",
                                                    limits: "{ max_requests_per_server: 2, max_pending: 10, queue_timeout: 5s }")
        defer { Task { await balancer.shutdown(drainFor: .seconds(1)); await backend.stop() } }
        let answers = try await Burst.send((0..<8).map { _ in Burst.Request(method: "GET", path: "/slow") }, port: port)
        #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.status))")
        #expect(backend.connections.load(ordering: .relaxed) <= 2, "never more than 2 requests at the server, so never more than 2 connections")
        #expect(Self.overflows("brk-queue", "max_requests_per_server") == 6, "six waited")
    }

    @Test func aQueuedRequestGets503AtItsDeadlineNotAfterTheSlowOneAhead() async throws {
        let backend = try await TestBackend.start("a")
        backend.slowForMilliseconds.store(3000, ordering: .relaxed)
        let (balancer, port) = try await Self.start(backend, upstream: "brk-deadline",
                                                    limits: "{ max_requests_per_server: 1, max_pending: 10, queue_timeout: 300ms }")
        defer { Task { await balancer.shutdown(drainFor: .seconds(1)); await backend.stop() } }
        let started = ContinuousClock.now
        async let first = Burst.send([Burst.Request(method: "GET", path: "/slow")], port: port)
        try await Task.sleep(for: .milliseconds(100))
        let second = try await Burst.send([Burst.Request(method: "GET", path: "/slow")], port: port)[0]
        let waited = ContinuousClock.now - started
        #expect(second.status == 503 && second.body.contains("queue_timeout"), "\(second.status) \(second.body)")
        #expect(waited < .milliseconds(2500), "answered at its deadline (300 ms, swept every 250 ms), not when the slow request ended (3 s): \(waited)")
        #expect(try await first[0].status == 200)
    }

    @Test func beyondTheConnectionCapANewConnectionIsNotOpened() async throws {
        let backend = try await TestBackend.start("a")
        backend.slowForMilliseconds.store(400, ordering: .relaxed)
        let (balancer, port) = try await Self.start(backend, upstream: "brk-conns", limits: "{ max_connections: 1, max_pending: 0 }")
        defer { Task { await balancer.shutdown(drainFor: .seconds(1)); await backend.stop() } }
        let answers = try await Burst.send((0..<3).map { _ in Burst.Request(method: "GET", path: "/slow") }, port: port)
        #expect(answers.map(\.status).sorted() == [200, 503, 503], "\(answers.map(\.status))")
        #expect(backend.connections.load(ordering: .relaxed) == 1)
        #expect(Self.overflows("brk-conns", "max_pending") == 2)
        // The kept-alive connection serves what comes next without a new one.
        let next = try await Burst.send([Burst.Request(method: "GET", path: "/")], port: port)
        #expect(next[0].status == 200 && backend.connections.load(ordering: .relaxed) == 1)
    }
}

extension Double {
    fileprivate var toInt: Int { Int(self) }
}
