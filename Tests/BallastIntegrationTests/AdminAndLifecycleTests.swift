import BallastAPI
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Prometheus
import Synchronization
import Testing

@Suite(.serialized) struct AdminAndLifecycleTests {
    @Test func theAdminAPIRefusesABadConfigAppliesAGoodOneAndRollsBack() async throws {
        let registry = TestMetrics.registry
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let history = ConfigHistory()
        try await history.record(version: 1, author: "test", outcome: "applied", source: proxy.balancer.runtime.config.sourceText)
        let api = AdminAPI(balancer: proxy.balancer, history: history, registry: registry)
        let router = Router()
        api.addRoutes(to: router)
        // Counted from here: other tests of this suite apply configs too, in the same process.
        @Sendable func applies(_ result: String) -> Int {
            let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
            let prefix = #"ballast_config_applies_total{result=""# + result + #""} "#
            return text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
        }
        let invalidBefore = applies("invalid"), appliedBefore = applies("applied")
        try await Application(router: router).test(.router) { client async throws in
            let bad = simpleConfig(port: proxy.port, servers: [b.address]).replacingOccurrences(of: "balance:", with: "balanse:")
            let refused = try await client.execute(uri: "/api/v1/config", method: .post, body: ByteBuffer(string: bad))
            #expect(refused.status == .unprocessableContent)
            #expect(String(buffer: refused.body).contains("BL002"))
            #expect(String(buffer: refused.body).contains("did you mean 'balance'?"))
            #expect(proxy.balancer.version == 1)
            #expect(try await fetch(port: proxy.port, .GET, "/").text.contains("\"a\""))

            let good = simpleConfig(port: proxy.port, servers: [b.address])
            let applied = try await client.execute(uri: "/api/v1/config", method: .post, body: ByteBuffer(string: good))
            #expect(applied.status == .ok)
            #expect(proxy.balancer.version == 2)
            #expect(try await fetch(port: proxy.port, .GET, "/").text.contains("\"b\""))
            let current = try await client.execute(uri: "/api/v1/config", method: .get)
            #expect(current.headers[HTTPField.Name("X-Ballast-Config-Version")!] == "2")
            #expect(String(buffer: current.body) == good)

            let rolledBack = try await client.execute(uri: "/api/v1/config/rollback", method: .post)
            #expect(rolledBack.status == .ok)
            #expect(try await fetch(port: proxy.port, .GET, "/").text.contains("\"a\""))
            let history = String(buffer: try await client.execute(uri: "/api/v1/config/history", method: .get).body)
            #expect(history.contains("rollback to v1"))
            #expect(history.contains("upstream app: removed \(a.address); added \(b.address)"))
            let upstreams = String(buffer: try await client.execute(uri: "/api/v1/upstreams", method: .get).body)
            #expect(upstreams.contains(a.address))

            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(applies("invalid") == invalidBefore + 1)
            #expect(applies("applied") == appliedBefore + 2)
            #expect(metrics.contains("ballast_config_version 3"))
            #expect(metrics.contains(#"ballast_requests_total{listener="public",route="all",upstream="app",code="200"}"#))
            #expect(metrics.contains("ballast_request_duration_seconds_bucket"))
        }
        await proxy.stop()
        await a.stop()
        await b.stop()
    }

    @Test func theAdminAPIRunsStagedRollouts() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let api = AdminAPI(balancer: proxy.balancer, history: ConfigHistory(), registry: TestMetrics.registry)
        let router = Router()
        api.addRoutes(to: router)
        try await Application(router: router).test(.router) { client async throws in
            let invalid = try await client.execute(uri: "/api/v1/config?rollout=staged", method: .post, body: ByteBuffer(string: "version: 1\nlisteners: 3\n"))
            #expect(invalid.status == .unprocessableContent)
            let dead = try await freePort()
            let refused = try await client.execute(uri: "/api/v1/config?rollout=staged", method: .post,
                                                   body: ByteBuffer(string: simpleConfig(port: proxy.port, servers: ["127.0.0.1:\(dead)"])))
            #expect(refused.status == .conflict)
            #expect(String(buffer: refused.body).contains(#""outcome" : "refused""#))
            let good = simpleConfig(port: proxy.port, servers: [a.address, b.address]) + "\nrollout: { watch: 300ms }"
            let promoted = try await client.execute(uri: "/api/v1/config?rollout=staged", method: .post, body: ByteBuffer(string: good))
            #expect(promoted.status == .ok)
            #expect(String(buffer: promoted.body).contains(#""outcome" : "promoted""#))
        }
        #expect(proxy.balancer.version == 2)
        await proxy.stop()
        await a.stop()
        await b.stop()
    }

    @Test func appliesRefusalsAndHealthFlipsLandOnTheTimeline() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-tl-\(UUID().uuidString)/t.sqlite").path
        let timeline = Timeline(store: try SQLiteTimelineStore(path: file))
        let port = try await freePort()
        let yaml = simpleConfig(port: port, servers: [a.address, b.address],
                                // A timeout long enough that a loaded machine's slow probe of b is not
                                // what marks it down first (its reason would then be the timeout).
                                extraUpstream: "    health: { path: /healthz, interval: 2500ms, timeout: 2s, healthy_after: 1, unhealthy_after: 1 }")
        let balancer = try LoadBalancer(config: try ConfigLoader.load(text: yaml, file: "t").get().config, threads: 1) { event in
            timeline.post(TimelineEvent(event))
        }
        try await balancer.start()
        let api = AdminAPI(balancer: balancer, history: ConfigHistory(), registry: TestMetrics.registry, timeline: timeline)
        let router = Router()
        api.addRoutes(to: router)
        b.healthStatus.store(503, ordering: .relaxed)
        try await Application(router: router).test(.router) { client async throws in
            _ = try await client.execute(uri: "/api/v1/config", method: .post, body: ByteBuffer(string: "version: 1\nlisteners: [\n"))
            _ = try await client.execute(uri: "/api/v1/config", method: .post, body: ByteBuffer(string: yaml.replacingOccurrences(of: "round_robin", with: "random")))
            // b's own flip: on a loaded machine a probe of a may be slow and flip a too.
            // Only server.down events: a flapping `a` may record hundreds of flips first.
            let downs = { (try? await timeline.store.events(EventQuery(kinds: ["server.down"], limit: 10_000))) ?? [] }
            try await waitUntilAsync {
                await downs().contains { $0.message.contains(b.address) && $0.message.contains("answered 503") }
            }
            let events = try await timeline.store.events(since: nil, limit: 100) + (await downs())
            #expect(events.contains { $0.kind == "config.invalid" && $0.message.contains("BL001") })
            #expect(events.contains { $0.kind == "config.applied" && $0.message.contains("balance round_robin → random") })
            #expect(events.contains { $0.kind == "server.down" && $0.message.contains(b.address) && $0.message.contains("answered 503") })
            let listed = String(buffer: try await client.execute(uri: "/api/v1/events?since=10m", method: .get).body)
            #expect(listed.contains("server.down"))
            #expect(try await client.execute(uri: "/api/v1/events?since=whenever", method: .get).status == .badRequest)
        }
        await balancer.shutdown(drainFor: .seconds(1))
        await a.stop()
        await b.stop()
    }

    @Test func drainingLetsRequestsInFlightFinishAndRefusesNewOnes() async throws {
        let a = try await TestBackend.start("a")
        a.slowForMilliseconds.store(600, ordering: .relaxed)
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        async let slow = fetch(port: proxy.port, .GET, "/slow")
        try await Task.sleep(for: .milliseconds(150))
        async let drained: Void = proxy.balancer.shutdown(drainFor: .seconds(5))
        try await Task.sleep(for: .milliseconds(150))
        await #expect(throws: (any Error).self) { try await fetch(port: proxy.port, .GET, "/") }
        let response = try await slow
        #expect(response.status == 200)
        #expect(response.text.contains("slow"))
        await drained
        await a.stop()
    }

    @Test func connectionsBeyondTheLimitAreRefusedWith503() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_connections: 2 }")
        }
        try await withConnection(port: proxy.port) { first in
            _ = try await first.request(.GET, "/")
            try await withConnection(port: proxy.port) { second in
                _ = try await second.request(.GET, "/")
                let third = try await rawExchange(port: proxy.port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                #expect(third.hasPrefix("HTTP/1.1 503"))
            }
        }
        // Once the others closed, there is room again.
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await fetch(port: proxy.port, .GET, "/").status == 200)
        await proxy.stop()
        await a.stop()
    }

    @Test func oneClientCannotHoldMoreThanItsShareOfConnections() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_connections: 100, max_connections_per_client: 3 }")
        }
        try await withConnection(port: proxy.port) { c1 in
            #expect(try await c1.request(.GET, "/").status == 200)
            try await withConnection(port: proxy.port) { c2 in
                #expect(try await c2.request(.GET, "/").status == 200)
                try await withConnection(port: proxy.port) { c3 in
                    #expect(try await c3.request(.GET, "/").status == 200)
                    let fourth = try await rawExchange(port: proxy.port, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    #expect(fourth.hasPrefix("HTTP/1.1 429"), "\(fourth.prefix(80))")
                    #expect(fourth.contains("Retry-After: 1"))
                }
            }
        }
        // Closed connections give their slots back.
        try await waitUntilAsync { (try? await fetch(port: proxy.port, .GET, "/").status) == 200 }
        await proxy.stop()

        // A trusted proxy carries many clients: it is not capped.
        let trusted = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address],
                         listenerExtra: "    limits: { max_connections_per_client: 1 }\n    trusted_proxies: [127.0.0.1]")
        }
        try await withConnection(port: trusted.port) { c1 in
            #expect(try await c1.request(.GET, "/").status == 200)
            try await withConnection(port: trusted.port) { c2 in
                let status = try await c2.request(.GET, "/").status
                #expect(status == 200, "a trusted proxy's second connection")
            }
        }
        await trusted.stop()
        await a.stop()
    }

    @Test func theAccessLogHasOneStructuredLinePerRequest() async throws {
        let records = LogCollector()
        let a = try await TestBackend.start("a")
        let port = try await freePort()
        let yaml = simpleConfig(port: port, servers: [a.address], listenerExtra: "    access_log: true")
        let config = try ConfigLoader.load(text: yaml, file: "t").get().config
        let balancer = try LoadBalancer(config: config, threads: 1, logger: Logger(label: "test") { _ in records })
        try await balancer.start()
        _ = try await fetch(port: port, .GET, "/status/418")
        let line = try #require(records.entries.first { $0.message == "request" })
        #expect(line.metadata["status"] == "418")
        #expect(line.metadata["route"] == "all")
        #expect(line.metadata["path"] == "/status/418")
        #expect(line.metadata["client"] == "127.0.0.1")
        await balancer.shutdown(drainFor: .seconds(1))
        await a.stop()
    }
}

/// A log handler that keeps what it is given, for tests.
final class LogCollector: LogHandler, @unchecked Sendable {
    struct Entry { var message: String; var metadata: [String: String] }
    private let lock = NIOLock()
    private var stored: [Entry] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var entries: [Entry] { lock.withLock { stored } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let flat = (event.metadata ?? [:]).mapValues { "\($0)" }
        lock.withLock { stored.append(Entry(message: "\(event.message)", metadata: flat)) }
    }
}
