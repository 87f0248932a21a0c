import BallastAuth
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The auth tier under attackers who do not send one request at a time: concurrent guesses,
/// address rotation inside one IPv6 allocation, sign-up floods, a full hashing queue. Services
/// run on a clock that stands still, so no back-off runs out on a slow machine.
@Suite struct ConcurrentAttackTests {
    /// Forty wrong passwords for one account from one address, all at once: the throttle is
    /// reserved before bcrypt, so at most `freePerAccountAndIP` are verified (ASVS 2.2.1 holds
    /// under concurrency), on one replica and across two that share the database.
    @Test(arguments: StoreKind.available, [1, 2])
    func concurrentGuessesVerifyAtMostTheAllowance(store: StoreKind, replicas: Int) async throws {
        let url = temporaryDatabase(store)
        // A clock that stands still: the 1 s back-off cannot run out while a loaded machine is slow.
        let clock = TestClock()
        let services = try await (0..<replicas).asyncMap { _ in try await makeService(database: url, clock: clock) }
        _ = try await services[0].register(username: "kate", password: "correct horse battery", clientIP: "192.0.2.1")
        let outcomes = await withTaskGroup(of: String.self) { group in
            for i in 0..<40 {
                let service = services[i % replicas]
                group.addTask {
                    do {
                        _ = try await service.login(username: "kate", password: "wrong guess \(i)!", clientIP: "198.51.100.7")
                        return "ok"
                    } catch let error as AuthError {
                        return error.code
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let verified = outcomes.count { $0 == "invalid_credentials" }
        #expect(verified <= AuthSettings().throttle.freePerAccountAndIP, "\(verified) guesses were verified: \(outcomes)")
        #expect(verified >= 1)
        #expect(outcomes.allSatisfy { $0 == "invalid_credentials" || $0 == "throttled" || $0 == "overloaded" }, "\(outcomes)")
        // The owner, from another network, still gets in: a success is not blocked by a stranger's budget.
        #expect(try await services[0].login(username: "kate", password: "correct horse battery", clientIP: "203.0.113.5").token.count == 43)
    }

    /// A success gives back its count: a user who logs in many times is never throttled.
    @Test(arguments: StoreKind.available)
    func successfulLoginsDoNotUseUpTheBudget(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store), clock: TestClock())
        _ = try await service.register(username: "liam", password: "correct horse battery", clientIP: "192.0.2.1")
        for _ in 0..<30 {
            _ = try await service.login(username: "liam", password: "correct horse battery", clientIP: "198.51.100.8")
        }
        let records = try await service.store.throttle(keys: AuthSettings().throttle.keys(username: "liam", clientIP: "198.51.100.8"))
        #expect(records.values.allSatisfy { $0.failures == 0 }, "\(records)")
    }

    /// Rotating addresses inside one /64 buys no fresh budget: guesses on one account, and a
    /// spray over many accounts, are throttled as if they came from one address.
    @Test(arguments: StoreKind.available)
    func ipv6RotationWithinASlash64IsOneClient(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store), clock: TestClock())
        _ = try await service.register(username: "mona", password: "correct horse battery", clientIP: "192.0.2.1")
        var guesses: [String] = []
        for i in 0..<8 {
            let address = "2001:db8:1:2:\(String(i + 1, radix: 16)):\(String(i * 7 + 3, radix: 16))::\(i + 9)"
            do {
                _ = try await service.login(username: "mona", password: "wrong guess \(i)!", clientIP: address)
            } catch let error as AuthError { guesses.append(error.code) }
        }
        #expect(guesses.prefix(5).allSatisfy { $0 == "invalid_credentials" }, "\(guesses)")
        #expect(guesses.suffix(3).allSatisfy { $0 == "throttled" }, "\(guesses)")
        // The next /64 is another client.
        do {
            _ = try await service.login(username: "mona", password: "wrong guess 9!", clientIP: "2001:db8:1:3::1")
            Issue.record("a wrong password was accepted")
        } catch let error as AuthError { #expect(error == .invalidCredentials) }
        // A spray over accounts from rotating addresses of one /64 hits the per-network limit.
        var spray: [String] = []
        for i in 0..<30 {
            do {
                _ = try await service.login(username: "user\(i)", password: "Winter2026!!", clientIP: "2001:db8:9:9::\(String(i + 1, radix: 16))")
            } catch let error as AuthError { spray.append(error.code) }
        }
        #expect(spray.suffix(5).allSatisfy { $0 == "throttled" }, "\(spray)")
    }

    /// A botnet that fills the account's hourly cap locks out strangers, but not the owner's
    /// own device: the device cookie of an earlier login carries its own budget. A device
    /// token of another user, or a made-up one, is no device.
    @Test(arguments: StoreKind.available)
    func strangersCannotLockOutADeviceThatLoggedInBefore(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store), clock: TestClock())
        _ = try await service.register(username: "pia", password: "correct horse battery", clientIP: "192.0.2.1")
        _ = try await service.register(username: "quinn", password: "correct horse battery", clientIP: "192.0.2.1")
        let device = try await service.login(username: "pia", password: "correct horse battery", clientIP: "198.51.100.20").deviceToken
        let other = try await service.login(username: "quinn", password: "correct horse battery", clientIP: "198.51.100.21").deviceToken
        #expect(device.count == 43 && device != other)
        for i in 0..<100 {
            _ = try? await service.login(username: "pia", password: "botnet guess \(i)", clientIP: "198.18.\(i / 250).\(i % 250)")
        }
        func outcome(_ token: String?) async -> String {
            do {
                _ = try await service.login(username: "pia", password: "correct horse battery", clientIP: "198.51.100.20", deviceToken: token)
                return "ok"
            } catch let error as AuthError { return error.code } catch { return "\(error)" }
        }
        #expect(await outcome(nil) == "throttled")
        #expect(await outcome(other) == "throttled")
        #expect(await outcome(String(repeating: "A", count: 43)) == "throttled")
        #expect(await outcome(device) == "ok")
        // The device's own failures still back off.
        var own: [String] = []
        for i in 0..<8 {
            do {
                _ = try await service.login(username: "pia", password: "typo \(i) here!", clientIP: "198.51.100.20", deviceToken: device)
            } catch let error as AuthError { own.append(error.code) }
        }
        #expect(own.prefix(5).allSatisfy { $0 == "invalid_credentials" } && own.suffix(3).allSatisfy { $0 == "throttled" }, "\(own)")
    }

    /// Through the API: the device cookie is set at login, HttpOnly, SameSite=Strict, only for /auth/.
    @Test func theDeviceCookieIsSetAtLoginAndReadBack() async throws {
        let service = try await makeService(database: temporaryDatabase(), clock: TestClock())
        try await application(service).test(.router) { client async throws in
            _ = try await client.register("rosa")
            let login = try await client.login("rosa")
            let cookies = login.headers[values: .setCookie]
            let device = try #require(cookies.first { $0.hasPrefix("\(AuthAPI.deviceCookieName)=") })
            #expect(device.contains("Path=/auth/") && device.contains("HttpOnly") && device.contains("SameSite=Strict"), "\(device)")
            let token = String(device.dropFirst(AuthAPI.deviceCookieName.count + 1).prefix(43))
            var headers = jsonHeaders
            headers[.cookie] = "\(AuthAPI.deviceCookieName)=\(token)"
            let again = try await client.execute(uri: "/auth/login", method: .post, headers: headers,
                                                 body: body(#"{"username":"rosa","password":"correct horse battery"}"#))
            #expect(again.status == .ok)
            // A known device keeps its token.
            #expect(again.headers[values: .setCookie].contains { $0.hasPrefix("\(AuthAPI.deviceCookieName)=\(token);") })
        }
    }

    @Test func clientNetworksAreAddressesAndSlash64s() {
        #expect(ClientNetwork.key("192.0.2.44") == "192.0.2.44")
        #expect(ClientNetwork.key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64")
        #expect(ClientNetwork.key("2001:DB8:1:2::1") == "2001:db8:1:2::/64")
        #expect(ClientNetwork.key("[2001:db8:1:2::1]") == "2001:db8:1:2::/64")
        #expect(ClientNetwork.key("fe80::1%eth0") == "fe80:0:0:0::/64")
        #expect(ClientNetwork.key("::ffff:192.0.2.44") == "192.0.2.44")
        #expect(ClientNetwork.key("unknown") == "unknown")
    }

    /// Sign-ups are throttled per network, counted before any hashing, 409s included (the
    /// answer to "is this name taken?" is what an enumerator wants).
    @Test(arguments: StoreKind.available)
    func registrationIsThrottledPerNetwork(store: StoreKind) async throws {
        var settings = AuthSettings()
        settings.throttle.registrationsPerNetwork = 5
        let service = try await makeService(database: temporaryDatabase(store), clock: TestClock(), settings: settings)
        var codes: [String] = []
        for i in 0..<4 {
            _ = try await service.register(username: "flood\(i)", password: "correct horse battery", clientIP: "2001:db8:5:5::\(i + 1)")
            codes.append("created")
        }
        for name in ["flood0", "flood9", "flood10"] {
            do {
                _ = try await service.register(username: name, password: "correct horse battery", clientIP: "2001:db8:5:5::ff")
                codes.append("created")
            } catch let error as AuthError { codes.append(error.code) }
        }
        #expect(codes == ["created", "created", "created", "created", "username_taken", "throttled", "throttled"], "\(codes)")
        // Another network registers as before.
        _ = try await service.register(username: "elsewhere", password: "correct horse battery", clientIP: "192.0.2.9")
    }

    /// A name that cannot exist is refused with the generic answer, before any work: no
    /// throttle record, no audit row (a loop of junk names cannot fill the disk).
    @Test(arguments: StoreKind.available)
    func impossibleUsernamesAtLoginLeaveNoTrace(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store), clock: TestClock())
        let before = try await service.store.auditEvents(limit: 100).count
        for name in ["x", String(repeating: "a", count: 5000), "robert'); DROP TABLE users;--", "名前"] {
            await #expect(throws: AuthError.invalidCredentials) {
                _ = try await service.login(username: name, password: "whatever password", clientIP: "198.51.100.9")
            }
        }
        #expect(try await service.store.auditEvents(limit: 100).count == before)
        #expect(try await service.store.throttle(keys: ["ip:198.51.100.9"]).isEmpty)
    }

    /// The current password is guessed under the login throttle: a stolen session cannot
    /// brute-force it.
    @Test(arguments: StoreKind.available)
    func passwordChangeGuessesAreThrottled(store: StoreKind) async throws {
        let service = try await makeService(database: temporaryDatabase(store), clock: TestClock())
        _ = try await service.register(username: "nina", password: "correct horse battery", clientIP: "192.0.2.1")
        let session = try await service.login(username: "nina", password: "correct horse battery", clientIP: "198.51.100.10")
        let (record, user) = try await service.authenticate(token: session.token)
        var codes: [String] = []
        for i in 0..<7 {
            do {
                try await service.changePassword(user: user, session: record, current: "guess number \(i)", new: "a brand new passphrase", clientIP: "198.51.100.10")
            } catch let error as AuthError { codes.append(error.code) }
        }
        #expect(codes.prefix(5).allSatisfy { $0 == "invalid_credentials" } && codes.suffix(2).allSatisfy { $0 == "throttled" }, "\(codes)")
    }

    /// Old audit events and ended throttle windows are deleted; recent ones stay.
    @Test(arguments: StoreKind.available)
    func pruningKeepsTheTablesBounded(store: StoreKind) async throws {
        let clock = TestClock()
        let service = try await makeService(database: temporaryDatabase(store), clock: clock)
        try await service.store.audit(AuditEvent(at: clock.now.addingTimeInterval(-100 * 86_400), kind: "login_failed", username: "old"))
        try await service.store.audit(AuditEvent(at: clock.now.addingTimeInterval(-3600), kind: "login_failed", username: "recent"))
        _ = try await service.store.recordFailure(keys: ["ip:192.0.2.50"], now: clock.now.addingTimeInterval(-7200), window: 3600)
        _ = try await service.store.recordFailure(keys: ["ip:192.0.2.51"], now: clock.now.addingTimeInterval(-60), window: 3600)
        let pruned = try await service.prune()
        #expect(pruned.audit == 1 && pruned.throttle == 1, "\(pruned)")
        #expect(try await service.store.auditEvents(limit: 10).map(\.username) == ["recent"])
        #expect(try await service.store.throttle(keys: ["ip:192.0.2.50", "ip:192.0.2.51"]).keys.sorted() == ["ip:192.0.2.51"])
    }
}

/// The hashing queue as a unit: bounded, refusing at once, logins first.
@Suite struct HashingQueueTests {
    /// Jobs that hold their slots until the gate opens.
    final class Gate: @unchecked Sendable {
        private var waiting: [CheckedContinuation<Void, Never>] = []
        private var opened = false
        private let lock = NSLock()
        func wait() async {
            await withCheckedContinuation { c in
                lock.lock()
                if opened { lock.unlock(); c.resume() } else { waiting.append(c); lock.unlock() }
            }
        }
        func open() {
            lock.lock(); opened = true; let all = waiting; waiting = []; lock.unlock()
            for c in all { c.resume() }
        }
    }

    @Test func aFullQueueRefusesAtOnceAndLoginsGoFirst() async throws {
        let queue = HashingQueue(slots: 1, maxWaiting: 3, maxWaitingRegistrations: 1)
        let gate = Gate()
        let order = Recorder()
        let holder = Task { try await queue.run(.login) { await order.add("holding"); await gate.wait(); await order.add("holder") } }
        // Wait until the holder has the only slot (a sleep would not do on a loaded machine).
        while await order.items.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let registration = Task { try await queue.run(.registration) { await order.add("registration") } }
        while await queue.waiting < 1 { try await Task.sleep(for: .milliseconds(5)) }
        // A second registration finds its share of the queue full, though places are free.
        await #expect(throws: AuthError.overloaded(retryAfter: 1)) { try await queue.run(.registration) {} }
        let login = Task { try await queue.run(.login) { await order.add("login") } }
        let login2 = Task { try await queue.run(.login) { await order.add("login2") } }
        while await queue.waiting < 3 { try await Task.sleep(for: .milliseconds(5)) }
        // Full: the next login is refused at once, not queued.
        let started = ContinuousClock.now
        await #expect(throws: AuthError.overloaded(retryAfter: 1)) { try await queue.run(.login) {} }
        #expect(ContinuousClock.now - started < .seconds(1))
        gate.open()
        _ = try await (holder.value, registration.value, login.value, login2.value)
        // The logins that came after the registration went before it.
        #expect(await order.items == ["holding", "holder", "login", "login2", "registration"])
        #expect(await queue.waiting == 0)
    }

    /// Registrations hold at most half the slots: with two slots busy hashing sign-ups... only
    /// one is, and a login starts at once.
    @Test func registrationsLeaveALoginSlotFree() async throws {
        let queue = HashingQueue(slots: 2, maxWaiting: 8, maxWaitingRegistrations: 4)
        #expect(queue.registrationSlots == 1)
        let gate = Gate()
        let order = Recorder()
        let signUps = (0..<3).map { i in Task { try await queue.run(.registration) { await gate.wait(); await order.add("registration \(i)") } } }
        while await queue.waiting < 2 { try await Task.sleep(for: .milliseconds(5)) }
        // One registration runs, two wait, one slot is free: the login takes it without waiting.
        try await queue.run(.login) { await order.add("login") }
        #expect(await order.items == ["login"])
        gate.open()
        for task in signUps { try await task.value }
        #expect(await order.items.count == 4)
    }

    actor Recorder {
        var items: [String] = []
        func add(_ item: String) { items.append(item) }
    }

    /// Through the API: a full queue is 503 with Retry-After, not a wait.
    @Test func aFullQueueIs503WithRetryAfter() async throws {
        let service = try await makeService(database: temporaryDatabase())
        _ = try await service.register(username: "olga", password: "correct horse battery", clientIP: "192.0.2.1")
        let gate = Gate()
        var holders: [Task<Void, any Error>] = []
        for _ in 0..<(service.hashing.slots + service.hashing.maxWaiting) {
            holders.append(Task { try await service.hashing.run(.login) { await gate.wait() } })
        }
        while await service.hashing.waiting < service.hashing.maxWaiting { try await Task.sleep(for: .milliseconds(5)) }
        try await application(service).test(.router) { client async throws in
            let response = try await client.login("olga")
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "1")
            #expect(decode(response.body)["error"] as? String == "overloaded")
        }
        gate.open()
        for holder in holders { try await holder.value }
        // The refused attempt did not count against the account.
        try await application(service).test(.router) { client async throws in
            #expect(try await client.login("olga").status == .ok)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
