import BallastAuth
import BallastDrill
import BallastStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// PostgreSQL away (its link cut, or its host hung): once that is known, every request is
/// answered 503 with Retry-After at once, not after the operation timeout, `/readyz` says so,
/// and a background probe finds the database back and a fresh pool serves again.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"] != nil, "needs the test PostgreSQL"))
struct DatabaseAwayTests {
    enum Fault: String, CaseIterable, Sendable {
        /// Connections are closed and refused: the host is gone.
        case cut
        /// Connections stay open and nothing comes back: the host hangs (SIGSTOP, a black hole).
        case hang
    }

    @Test(arguments: Fault.allCases) func requestsAreAnsweredAtOnceWhileTheDatabaseIsAwayAndServedWhenItIsBack(_ fault: Fault) async throws {
        let base = URLComponents(string: temporaryDatabase(.postgres))!
        let proxy = LatencyProxy(target: base.host!, port: base.port!)
        try await proxy.start(host: "127.0.0.1", port: 0)
        defer { Task { await proxy.stop() } }
        var through = base
        through.host = "127.0.0.1"
        let port: Int = try #require(proxy.port)
        through.port = port
        // An operation timeout far above anything this test waits for: only knowing the database
        // is away can answer these requests in seconds.
        let database = SharedDatabase(url: try PostgresURL(through.string!), operationTimeout: .seconds(30),
                                      probeInterval: .milliseconds(200), probeTimeout: .seconds(2))
        defer { database.close() }
        let store = PostgresAuthStore(database: database)
        try await store.migrate()
        let service = try await AuthService(store: store, hasher: PasswordHasher(cost: 4))
        try await application(service).test(.router) { client async throws in
            #expect(try await client.register("alice").status == .created)
            #expect(try await client.login("alice").status == .ok)

            switch fault {
            case .cut: proxy.setCut(true)
            case .hang: proxy.setLatency(.seconds(3600))
            }
            let started = ContinuousClock.now
            var statuses: [Int] = []
            var retryAfter: [String?] = []
            for _ in 0..<20 {
                let response = try await client.login("alice")
                statuses.append(Int(response.status.code))
                retryAfter.append(response.headers[.retryAfter])
            }
            let elapsed = ContinuousClock.now - started
            #expect(statuses == Array(repeating: 503, count: 20))
            #expect(retryAfter.allSatisfy { $0 != nil })
            // Twenty requests against a 30 s operation timeout: seconds only if all but the
            // first were answered without waiting.
            #expect(elapsed < .seconds(15), "20 requests took \(elapsed)")
            #expect(database.unreachableReason != nil)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .serviceUnavailable)

            proxy.setCut(false)
            proxy.setLatency(.zero)
            let back = ContinuousClock.now
            var status = 0
            while ContinuousClock.now - back < .seconds(20) {
                status = Int(try await client.login("alice").status.code)
                if status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(status == 200, "the service did not recover")
            #expect(database.unreachableReason == nil)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
        }
    }
}
