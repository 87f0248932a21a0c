import BallastAuth
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A database that stops taking writes (a stuck transaction holds SQLite's write lock): the
/// service answers 503 with Retry-After within its short busy timeout, writes nothing, keeps
/// serving reads, and works again the moment the lock is released.
@Suite struct DatabaseOutageTests {
    /// Holds `BEGIN IMMEDIATE` on `path` from another connection until `release` is signalled.
    final class WriteLock: @unchecked Sendable {
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)

        init(path: String) throws {
            let queue = try DatabaseQueue(path: path)
            let locked = DispatchSemaphore(value: 0)
            let (release, done) = (release, done)
            Thread.detachNewThread {
                try? queue.inDatabase { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    locked.signal()
                    release.wait()
                    try db.execute(sql: "ROLLBACK")
                }
                done.signal()
            }
            guard locked.wait(timeout: .now() + 5) == .success else { throw CancellationError() }
        }

        func unlock() {
            release.signal()
            done.wait()
        }
    }

    @Test func writesFailFastWith503AndNothingIsLost() async throws {
        let path = temporaryDatabase()
        let service = try await makeService(path: path)
        try await application(service).test(.live) { client async throws in
            #expect(try await client.register("alice").status == .created)
            let token = try await client.token("alice")
            let lock = try WriteLock(path: path)
            let clock = ContinuousClock()
            let start = clock.now
            let refused = try await client.register("bob")
            let waited = clock.now - start
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(decode(refused.body)["error"] as? String == "unavailable")
            #expect(!String(buffer: refused.body).contains("SQLITE"))  // no internals leak
            #expect(waited < .seconds(6))  // the short busy timeout, not a long hang
            #expect(try await client.login("alice").status == .serviceUnavailable)  // a session is a write
            // Reads still work: the existing session is valid.
            #expect(try await client.execute(uri: "/auth/me", method: .get, headers: bearer(token)).status == .ok)
            lock.unlock()
            // Nothing half-written: bob does not exist, and registering him now works.
            #expect(try await client.login("bob").status == .unauthorized)
            #expect(try await client.register("bob").status == .created)
            #expect(try await client.login("bob").status == .ok)
        }
    }
}
