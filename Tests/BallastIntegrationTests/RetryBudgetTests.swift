import BallastProxy
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The retry budget over real sockets: it lets through the burst of retries a frozen server
/// causes, and it stops a failing upstream from seeing a retry storm.
@Suite(.serialized) struct RetryBudgetTests {
    @Test func everyRequestStuckOnAFrozenServerIsRetried() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        b.frozen.store(true, ordering: .relaxed)
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: [a.address, b.address],
                         extraUpstream: "    outlier: { consecutive_failures: 1000 }",
                         extraRoute: """
                                 timeouts: { response: 400ms }
                                 retries: { attempts: 1, on: ["504"], budget_percent: 20 }
                         """)
        }
        // All at once, so half of them are stuck on the frozen server together and time out in
        // the same sweep: a budget of retries in flight (at least 3) refused most of them.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<24 { group.addTask { try await fetch(port: proxy.port, .GET, "/").status } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 != 200 } == [])
        #expect(b.requestCount >= 6, "the frozen server saw \(b.requestCount) requests: the test needs several stuck on it")
        await proxy.stop()
        await a.stop()
        await b.stop()
    }

    @Test func aFailingUpstreamSeesNoRetryStorm() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let loops = 2
        let proxy = try await ProxyHarness.start({ port in
            simpleConfig(port: port, servers: [a.address, b.address],
                         extraUpstream: "    outlier: { consecutive_failures: 1000 }",
                         extraRoute: "        retries: { attempts: 2, on: [\"503\"], budget_percent: 20 }")
        }, threads: loops)
        let requests = 1200
        let statuses = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await withConnection(port: proxy.port) { connection in
                        for _ in 0..<(requests / 8) {
                            if try await connection.request(.GET, "/status/503").status == 503 { statuses.add() }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        // Every client got the servers' answer, and the servers saw retries, but at most 20% of
        // the requests plus the floor of 10 per 10 s on each of the proxy's event loops; without
        // the budget every request would have been tried 3 times.
        #expect(statuses.count == requests)
        let attempts = a.requestCount + b.requestCount
        #expect(attempts > requests)
        #expect(attempts <= requests + requests / 5 + 10 * loops, "\(attempts) attempts for \(requests) requests")
        await proxy.stop()
        await a.stop()
        await b.stop()
    }
}
