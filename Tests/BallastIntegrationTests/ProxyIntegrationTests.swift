import BallastConfig
import BallastProxy
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The balancer over real sockets, against real HTTP servers.
@Suite(.serialized) struct ProxyIntegrationTests {
    @Test func spreadsRequestsPerWeights() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: ["{ address: \(a.address), weight: 3 }", "{ address: \(b.address), weight: 1 }"],
                         balance: "weighted_round_robin")
        }
        // One kept-alive connection stays on one event loop, whose smooth WRR is exact.
        let servers = try await withConnection(port: proxy.port) { connection in
            var names: [String] = []
            for _ in 0..<400 {
                let response = try await connection.request(.GET, "/")
                #expect(response.status == 200)
                names.append(response.text)
            }
            return names
        }
        #expect(servers.count { $0.contains("\"a\"") } == 300)
        #expect(servers.count { $0.contains("\"b\"") } == 100)
        // Kept-alive upstream connections are reused, not opened per request.
        #expect(a.connections.load(ordering: .relaxed) <= 2)
        await proxy.stop()
        await a.stop()
        await b.stop()
    }

    /// A 503 with Retry-After is a server refusing for now on purpose (auth while its shared
    /// database is away): passed to the client as it is, not retried on a peer that shares the
    /// reason, and not counted towards ejection, so every replica is still in when it is over.
    /// A bare 503 on the same route is retried and counts.
    @Test func aServerSheddingLoadIsNeitherEjectedNorRetried() async throws {
        let backends = [try await TestBackend.start("a"), try await TestBackend.start("b")]
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: backends.map(\.address),
                         extraUpstream: "    outlier: { consecutive_failures: 2, eject_for: 30s, max_ejected_percent: 100 }",
                         extraRoute: "        retries: { attempts: 2, on: [connect-failure, \"503\"], budget_percent: 100 }")
        }
        for _ in 0..<20 {
            let response = try await fetch(port: proxy.port, .GET, "/shed")
            #expect(response.status == 503)
            #expect(response.headers.first(name: "Retry-After") == "1")
        }
        let seen = backends.map { $0.seen.withLockedValue { $0.count } }
        #expect(seen.reduce(0, +) == 20, "each shed request reached one server once: \(seen)")
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        let servers = try #require(proxy.balancer.runtime.upstreams["app"]?.servers)
        #expect(servers.allSatisfy { !$0.state.isEjected(now: now) })
        // The same upstream does retry and eject for a bare 503.
        for _ in 0..<6 { _ = try await fetch(port: proxy.port, .GET, "/status/503") }
        #expect(backends.map { $0.seen.withLockedValue { $0.count } }.reduce(0, +) > 26, "a bare 503 is retried")
        #expect(servers.contains { $0.state.isEjected(now: Int64(NIODeadline.now().uptimeNanoseconds)) })
        await proxy.stop()
        for b in backends { await b.stop() }
    }

    @Test func aKilledServerIsEjectedAndItsRequestsRetriedWithoutClientErrors() async throws {
        let backends = [try await TestBackend.start("a"), try await TestBackend.start("b"), try await TestBackend.start("c")]
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: backends.map(\.address),
                         extraUpstream: "    outlier: { consecutive_failures: 2, eject_for: 30s, max_ejected_percent: 50 }",
                         extraRoute: "        retries: { attempts: 2, on: [connect-failure, \"503\"], budget_percent: 50 }")
        }
        let failures = Tally(), successes = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await withConnection(port: proxy.port) { connection in
                        for _ in 0..<150 {
                            let response = try await connection.request(.GET, "/")
                            if response.status == 200 { successes.add() } else { failures.add() }
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(150))
                await backends[1].stop()
            }
            try await group.waitForAll()
        }
        #expect(failures.count == 0)
        #expect(successes.count == 1200)
        let server = try #require(proxy.balancer.runtime.upstreams["app"]?.servers[1])
        #expect(server.state.isEjected(now: Int64(NIODeadline.now().uptimeNanoseconds)))
        // After ejection, the dead server is not tried again.
        let before = Set(try await (0..<30).asyncMap { _ in try await fetch(port: proxy.port, .GET, "/").text })
        #expect(!before.contains { $0.contains("\"b\"") })
        await proxy.stop()
        for b in backends { await b.stop() }
    }

    @Test func aHotReloadUnderLoadDropsNothing() async throws {
        let backends = [try await TestBackend.start("a"), try await TestBackend.start("b"), try await TestBackend.start("c")]
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: backends.map(\.address)) }
        let failures = Tally(), successes = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    for _ in 0..<10 {
                        try await withConnection(port: proxy.port) { connection in
                            for _ in 0..<30 {
                                let response = try await connection.request(.GET, "/")
                                if response.status == 200 { successes.add() } else { failures.add() }
                            }
                        }
                    }
                }
            }
            group.addTask {
                for i in 0..<30 {
                    // Alternate between server sets and algorithms while requests flow.
                    let servers = i % 2 == 0 ? Array(backends.prefix(2)) : Array(backends.suffix(2))
                    let balance = ["round_robin", "least_request", "random"][i % 3]
                    try await proxy.apply(simpleConfig(port: proxy.port, servers: servers.map(\.address), balance: balance))
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            try await group.waitForAll()
        }
        #expect(failures.count == 0)
        #expect(successes.count == 1800)
        #expect(proxy.balancer.version == 31)
        await proxy.stop()
        for b in backends { await b.stop() }
    }

    @Test func aBadReloadChangesNothing() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        var bad = try ConfigLoader.load(text: simpleConfig(port: proxy.port, servers: [a.address]), file: "t").get().config
        bad.upstreams[0].servers[0].address = Address(host: "no-such-host.invalid", port: 80)
        await #expect(throws: LoadBalancer.ApplyError.self) { try await proxy.balancer.apply(bad) }
        #expect(proxy.balancer.version == 1)
        #expect(try await fetch(port: proxy.port, .GET, "/").status == 200)
        await proxy.stop()
        await a.stop()
    }

    @Test func connectFailuresAreRetriedOnAnotherServer() async throws {
        let a = try await TestBackend.start("a")
        let deadPort = try await freePort()
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: ["127.0.0.1:\(deadPort)", a.address],
                         extraRoute: "        retries: { attempts: 1 }")
        }
        for _ in 0..<20 { #expect(try await fetch(port: proxy.port, .POST, "/", body: ByteBuffer(string: "x")).status == 200) }
        await proxy.stop()
        await a.stop()
    }

    @Test func noReachableServerIs502AndNoServerAtAllIs503() async throws {
        let deadPort = try await freePort()
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: ["127.0.0.1:\(deadPort)"], extraUpstream: "    panic_threshold_percent: 0")
        }
        let first = try await fetch(port: proxy.port, .GET, "/")
        #expect(first.status == 502)
        #expect(first.text.contains("upstream_unreachable"))
        // After enough failures the only server is ejected; with panic disabled, 503.
        for _ in 0..<6 { _ = try await fetch(port: proxy.port, .GET, "/") }
        #expect(try await fetch(port: proxy.port, .GET, "/").status == 503)
        await proxy.stop()
    }

    @Test func aSlowServerGets504() async throws {
        let a = try await TestBackend.start("a")
        a.slowForMilliseconds.store(3000, ordering: .relaxed)
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], extraRoute: "        timeouts: { connect: 1s, response: 300ms }")
        }
        let started = ContinuousClock.now
        let response = try await fetch(port: proxy.port, .GET, "/slow")
        #expect(response.status == 504)
        #expect(ContinuousClock.now - started < .seconds(2))
        await proxy.stop()
        await a.stop()
    }

    @Test func statusRetriesOnlyForIdempotentRequests() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address, b.address],
                         extraUpstream: "    outlier: { consecutive_failures: 1000 }",
                         extraRoute: "        retries: { attempts: 1, on: [\"503\"], budget_percent: 100 }")
        }
        // Every server answers 503 here; a GET is tried twice, a POST once.
        _ = try await fetch(port: proxy.port, .GET, "/status/503")
        #expect(a.requestCount + b.requestCount == 2)
        _ = try await fetch(port: proxy.port, .POST, "/status/503", body: ByteBuffer(string: "x"))
        #expect(a.requestCount + b.requestCount == 3)
        await proxy.stop()
        await a.stop()
        await b.stop()
    }

    @Test func anHTTP10ClientAskingForKeepAliveIsToldItGotIt() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: [a.address]) }
        defer { Task { await proxy.stop(); await a.stop() } }
        let socket = try RawSocket(port: proxy.port, timeout: 3)
        defer { socket.close() }
        // Without `Connection: keep-alive` in the response an HTTP/1.0 client must assume close.
        for _ in 0..<2 {
            socket.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let (status, head) = Self.readHead(socket)
            #expect(status == 200)
            #expect(head.contains("\r\nconnection: keep-alive\r\n"), "\(head)")
        }
        socket.send("GET / HTTP/1.0\r\n\r\n")
        let (status, head) = Self.readHead(socket)
        #expect(status == 200)
        #expect(head.contains("\r\nconnection: close\r\n"), "\(head)")
        #expect(a.requestCount == 3)
    }

    /// One response's head (lowercased) and status, its Content-Length body read and dropped.
    static func readHead(_ socket: RawSocket) -> (Int, String) {
        let answer = Burst.read(socket, isHead: false)
        return (answer.status, answer.head)
    }

    @Test func bodiesStreamBothWaysIntact() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_body_bytes: 20000000 }")
        }
        var body = ByteBuffer()
        var sum = 0
        for i in 0..<5_000_000 {
            body.writeInteger(UInt8(truncatingIfNeeded: i &* 31))
            sum = (sum + Int(UInt8(truncatingIfNeeded: i &* 31))) % 1_000_000_007
        }
        let upload = try await fetch(port: proxy.port, .POST, "/upload", body: body)
        #expect(upload.text == "5000000 \(sum)")
        let chunked = try await fetch(port: proxy.port, .POST, "/upload", headers: [("Transfer-Encoding", "chunked")], body: body)
        #expect(chunked.text == "5000000 \(sum)")
        let download = try await fetch(port: proxy.port, .GET, "/stream/3000000")
        #expect(download.body.readableBytes == 3_000_000)
        #expect(download.body.getInteger(at: 2_999_999, as: UInt8.self) == UInt8(truncatingIfNeeded: 2_999_999))
        await proxy.stop()
        await a.stop()
    }

    @Test func tooLargeBodiesAre413AndNeverReachTheServer() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    limits: { max_body_bytes: 1000 }")
        }
        let big = ByteBuffer(repeating: 1, count: 2000)
        #expect(try await fetch(port: proxy.port, .POST, "/upload", body: big).status == 413)
        let raw = try await rawExchange(port: proxy.port,
            "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + String(repeating: "x", count: 2000) + "\r\n0\r\n\r\n")
        #expect(raw.hasPrefix("HTTP/1.1 413"))
        #expect(a.requestCount == 0)
        await proxy.stop()
        await a.stop()
    }

    @Test func forwardedHeadersAreSetAndClientCopiesReplaced() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let response = try await fetch(port: proxy.port, .GET, "/headers", headers: [
            ("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"), ("X-Request-Id", "forged"),
            ("Connection", "X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "timeout=1"), ("TE", "trailers"),
            ("Forwarded", "for=6.6.6.6;proto=https"), ("X-Real-IP", "6.6.6.6"), ("x-real-ip", "6.6.6.6"),
        ])
        let lines = Set(response.text.split(separator: "\n").map(String.init))
        #expect(lines.contains("x-forwarded-for: 127.0.0.1"))
        #expect(lines.contains("x-forwarded-proto: http"))
        #expect(!lines.contains { $0.contains("6.6.6.6") || $0.contains("forged") || $0.hasPrefix("x-secret") })
        #expect(!lines.contains { $0.hasPrefix("keep-alive") || $0.hasPrefix("te:") || $0.hasPrefix("connection") })
        #expect(!lines.contains { $0.hasPrefix("forwarded") || $0.hasPrefix("x-real-ip") }, "\(lines)")
        let id = try #require(lines.first { $0.hasPrefix("x-request-id: ") })
        #expect(id.count == "x-request-id: ".count + 32)
        await proxy.stop()
        await a.stop()
    }

    @Test func trustedProxiesKeepTheirChain() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address], listenerExtra: "    trusted_proxies: [127.0.0.0/8]")
        }
        let response = try await fetch(port: proxy.port, .GET, "/headers", headers: [("X-Forwarded-For", "6.6.6.6"), ("X-Request-Id", "abc"),
                                                                                      ("Forwarded", "for=6.6.6.6"), ("X-Real-IP", "6.6.6.6")])
        #expect(response.text.contains("x-forwarded-for: 6.6.6.6, 127.0.0.1"))
        #expect(response.text.contains("forwarded: for=6.6.6.6") && response.text.contains("x-real-ip: 6.6.6.6"))
        #expect(response.text.contains("x-request-id: abc"))
        await proxy.stop()
        await a.stop()
    }

    @Test func smugglingAttemptsNeverReachTheServer() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let attempts = [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /smuggled HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcGET /smuggled HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n",
        ]
        for attempt in attempts {
            let answer = try await rawExchange(port: proxy.port, attempt)
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(attempt.debugDescription) → \(answer)")
            #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2)
        }
        #expect(!a.seen.withLockedValue { $0 }.contains { $0.contains("smuggled") })
        await proxy.stop()
        await a.stop()
    }

    @Test func pipelinedAndHalfClosedRequestsAreAllAnswered() async throws {
        let a = try await TestBackend.start("a")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let answer = try await rawExchange(port: proxy.port,
            "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(answer.components(separatedBy: "HTTP/1.1 200").count == 4)
        #expect(a.seen.withLockedValue { $0 } == ["GET /1", "GET /2", "GET /3"])
        await proxy.stop()
        await a.stop()
    }

    @Test func activeHealthChecksTakeAServerOutAndBackIn() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address, b.address],
                         extraUpstream: "    health: { path: /healthz, interval: 100ms, timeout: 80ms, healthy_after: 1, unhealthy_after: 2 }")
        }
        b.healthStatus.store(500, ordering: .relaxed)
        let server = try #require(proxy.balancer.runtime.upstreams["app"]?.servers[1])
        try await waitUntil { !server.state.isHealthy }
        let names = try await (0..<20).asyncMap { _ in try await fetch(port: proxy.port, .GET, "/").text }
        #expect(names.allSatisfy { $0.contains("\"a\"") })
        b.healthStatus.store(200, ordering: .relaxed)
        try await waitUntil { server.state.isHealthy }
        await proxy.stop()
        await a.stop()
        await b.stop()
    }

    @Test func routesMatchByHostPathAndMethod() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in
            """
            version: 1
            admin: { listen: 127.0.0.1:1 }
            listeners:
              - name: public
                listen: 127.0.0.1:\(port)
                routes:
                  - { name: exact, match: { path: /exact }, upstream: b }
                  - { name: host, match: { host: api.example, path_prefix: / }, upstream: b }
                  - { name: writes, match: { path_prefix: /auth/, methods: [POST] }, upstream: b }
                  - { name: auth, match: { path_prefix: /auth/ }, upstream: a }
            upstreams:
              - { name: a, servers: [\(a.address)] }
              - { name: b, servers: [\(b.address)] }
            """
        }
        #expect(try await fetch(port: proxy.port, .GET, "/exact").text.contains("\"b\""))
        #expect(try await fetch(port: proxy.port, .GET, "/exact/more").status == 404)
        #expect(try await fetch(port: proxy.port, .GET, "/auth/me").text.contains("\"a\""))
        #expect(try await fetch(port: proxy.port, .POST, "/auth/login", body: ByteBuffer(string: "{}")).text.contains("\"b\""))
        let byHost = try await rawExchange(port: proxy.port, "GET /x HTTP/1.1\r\nHost: API.example:8080\r\nConnection: close\r\n\r\n")
        #expect(byHost.contains("\"b\""))
        await proxy.stop()
        await a.stop()
        await b.stop()
    }
}

func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}

extension Sequence where Element: Sendable {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

/// A counter that concurrent test tasks can share.
final class Tally: Sendable {
    private let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}
