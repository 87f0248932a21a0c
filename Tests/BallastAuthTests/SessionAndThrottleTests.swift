import BallastAuth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct SessionLifetimeTests {
    @Test(arguments: StoreKind.available) func idleSessionsExpireAndUseKeepsThemAlive(store: StoreKind) async throws {
        let clock = TestClock()
        var settings = AuthSettings()
        settings.idleTimeout = 30 * 60
        settings.lifetime = 12 * 3600
        let service = try await makeService(database: temporaryDatabase(store), clock: clock, settings: settings)
        _ = try await service.register(username: "ivan", password: "correct horse battery")
        let session = try await service.login(username: "ivan", password: "correct horse battery", clientIP: "1.1.1.1")
        clock.advance(29 * 60)
        _ = try await service.authenticate(token: session.token)  // used: idle clock restarts
        clock.advance(29 * 60)
        _ = try await service.authenticate(token: session.token)
        clock.advance(31 * 60)
        await #expect(throws: AuthError.unauthenticated) { try await service.authenticate(token: session.token) }
        #expect(try await service.activeSessionCount() == 0)
    }

    @Test(arguments: StoreKind.available) func theAbsoluteLifetimeEndsEvenABusySession(store: StoreKind) async throws {
        let clock = TestClock()
        let service = try await makeService(database: temporaryDatabase(store), clock: clock)
        _ = try await service.register(username: "judy", password: "correct horse battery")
        let session = try await service.login(username: "judy", password: "correct horse battery", clientIP: "1.1.1.1")
        for _ in 0..<47 {
            clock.advance(15 * 60)
            _ = try await service.authenticate(token: session.token)
        }
        #expect(try await service.activeSessionCount() == 1)
        clock.advance(16 * 60)  // past 12 h since login
        await #expect(throws: AuthError.unauthenticated) { try await service.authenticate(token: session.token) }
    }

    @Test(arguments: StoreKind.available) func tokensAreStoredOnlyAsHashesAndEveryLoginGetsANewOne(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store))
        _ = try await service.register(username: "ken", password: "correct horse battery")
        let a = try await service.login(username: "ken", password: "correct horse battery", clientIP: "1.1.1.1")
        let b = try await service.login(username: "ken", password: "correct horse battery", clientIP: "1.1.1.1")
        #expect(a.token != b.token)
        #expect(a.session.tokenHash != a.token)
        #expect(a.session.tokenHash.count == 64)
        #expect(try await service.store.session(tokenHash: a.token) == nil)
    }
}

@Suite struct LoginThrottleTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func records(_ pairs: [(String, Int, TimeInterval)]) -> [String: ThrottleRecord] {
        Dictionary(uniqueKeysWithValues: pairs.map { ($0.0, ThrottleRecord(failures: $0.1, windowStart: t0, lastFailure: t0.addingTimeInterval($0.2))) })
    }

    @Test func backsOffExponentiallyAfterTheFreeAttempts() {
        let throttle = LoginThrottle()
        #expect(throttle.retryAfter(records([("acctip:a|ip", 4, 0)]), now: t0) == nil)
        #expect(throttle.retryAfter(records([("acctip:a|ip", 5, 0)]), now: t0) == 1)
        #expect(throttle.retryAfter(records([("acctip:a|ip", 8, 0)]), now: t0) == 8)
        #expect(throttle.retryAfter(records([("acctip:a|ip", 8, 0)]), now: t0.addingTimeInterval(8)) == nil)
        #expect(throttle.retryAfter(records([("acctip:a|ip", 40, 0)]), now: t0) == 900)
        #expect(throttle.retryAfter(records([("ip:x", 19, 0)]), now: t0) == nil)
        #expect(throttle.retryAfter(records([("ip:x", 21, 0)]), now: t0) == 2)
    }

    @Test func theAccountCapLiftsWhenTheHourEnds() {
        let throttle = LoginThrottle()
        let capped = records([("acct:a", 100, 10)])
        #expect(throttle.retryAfter(capped, now: t0.addingTimeInterval(60)) == 3540)
        #expect(throttle.retryAfter(capped, now: t0.addingTimeInterval(3600)) == nil)
        #expect(throttle.retryAfter(records([("acct:a", 99, 10)]), now: t0.addingTimeInterval(60)) == nil)
    }

    @Test(arguments: StoreKind.available) func throttlingIsSharedByTwoReplicasOfOneDatabase(store: StoreKind) async throws {
        let database = temporaryDatabase(store)
        // One clock for both: the 1 s back-off must not run out while a loaded machine is slow.
        let clock = TestClock()
        let replicaA = try await makeService(database: database, clock: clock), replicaB = try await makeService(database: database, clock: clock)
        _ = try await replicaA.register(username: "mallory", password: "correct horse battery")
        try await application(replicaA).test(.live) { a async throws in
            try await application(replicaB).test(.live) { b async throws in
                // A round-robin balancer alternates: every failure counts once, on whichever replica.
                for i in 0..<5 {
                    let client = i % 2 == 0 ? a : b
                    #expect(try await client.login("mallory", "wrong password!!", from: "203.0.113.9").status == .unauthorized)
                }
                let throttled = try await b.login("mallory", "wrong password!!", from: "203.0.113.9")
                #expect(throttled.status == .tooManyRequests)
                #expect(throttled.headers[.retryAfter] == "1")
                #expect(try await a.login("mallory", from: "203.0.113.9").status == .tooManyRequests)
                // Another address is not slowed by this one's failures.
                #expect(try await a.login("mallory", from: "198.51.100.7").status == .ok)
            }
        }
        let kinds = try await replicaA.store.auditEvents(limit: 20).map(\.kind)
        #expect(kinds.filter { $0 == "login_throttled" }.count == 2)
    }

    @Test(arguments: StoreKind.available) func anUntrustedPeerCannotPickItsAddressWithXForwardedFor(store: StoreKind) async throws {
        // A back-off of a minute, so a slow machine cannot let it lapse between the last two logins.
        var settings = AuthSettings()
        settings.throttle.baseDelay = 60
        let service = try await makeService(database: temporaryDatabase(store), settings: settings)
        _ = try await service.register(username: "oscar", password: "correct horse battery")
        // Only 10.9.9.9 is trusted here, so the test client's X-Forwarded-For is ignored.
        let app = Application(router: AuthAPI(service: service, trustedProxies: ["10.9.9.9"]).router())
        try await app.test(.live) { client async throws in
            for i in 0..<5 { _ = try await client.login("oscar", "wrong password!!", from: "192.0.2.\(i)") }
            #expect(try await client.login("oscar", from: "192.0.2.200").status == .tooManyRequests)
        }
    }
}

@Suite struct PasswordHasherTests {
    @Test func verifiesOnlyTheExactPassword() async throws {
        let hasher = PasswordHasher(cost: 4)
        let hash = try await hasher.hash("correct horse battery")
        #expect(hash.hasPrefix(PasswordHasher.prefix))
        #expect(try await hasher.verify("correct horse battery", hash: hash))
        #expect(try await !hasher.verify("correct horse batterY", hash: hash))
        #expect(try await !hasher.verify("correct horse battery", hash: String(hash.dropFirst(PasswordHasher.prefix.count))))
        let a = String(repeating: "a", count: 100), b = String(repeating: "a", count: 99) + "b"
        #expect(try await !hasher.verify(b, hash: try await hasher.hash(a)))
    }
}
