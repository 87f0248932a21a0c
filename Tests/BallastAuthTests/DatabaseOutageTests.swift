import BallastAuth
import BallastDrill
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// A database that stops taking writes (a stuck transaction holds SQLite's write lock, or
/// PostgreSQL's tables are locked against writers): the service answers 503 with Retry-After
/// within its short timeout, writes nothing, keeps serving reads, and works again the moment
/// the lock is released.
@Suite struct DatabaseOutageTests {
    protocol Lock: Sendable { func unlock() }

    /// Another session of the test PostgreSQL holds `LOCK TABLE … IN EXCLUSIVE MODE` (reads
    /// pass, writes wait) until `unlock`.
    final class PostgresWriteLock: Lock, @unchecked Sendable {
        let process: Process
        let input = Pipe()

        init(url: String) throws {
            // psql from Debian's postgresql-client: a separate client, as an administrator's would be.
            let components = URLComponents(string: url)!
            let schema = components.queryItems?.first { $0.name == "schema" }?.value ?? "public"
            var plain = components
            plain.queryItems = nil
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["psql", plain.string!, "-q", "-v", "ON_ERROR_STOP=1"]
            process.standardInput = input
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            input.fileHandleForWriting.write(Data("""
                BEGIN;
                LOCK TABLE \(schema).users, \(schema).sessions IN EXCLUSIVE MODE;
                SELECT 'locked';

                """.utf8))
            // Wait until psql says the lock is held.
            var seen = Data()
            while !String(decoding: seen, as: UTF8.self).contains("locked") {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { throw CancellationError() }
                seen += chunk
            }
        }

        func unlock() {
            input.fileHandleForWriting.write(Data("ROLLBACK;\n\\q\n".utf8))
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    @Test(arguments: StoreKind.available) func writesFailFastWith503AndNothingIsLost(store: StoreKind) async throws {
        let database = temporaryDatabase(store)
        let service = try await makeService(database: database)
        try await application(service).test(.live) { client async throws in
            #expect(try await client.register("alice").status == .created)
            let token = try await client.token("alice")
            let lock: any Lock = store == .sqlite ? try SQLiteWriteLock(path: String(database.dropFirst("sqlite:".count)))
                : try PostgresWriteLock(url: database)
            let clock = ContinuousClock()
            let start = clock.now
            let refused = try await client.register("bob")
            let waited = clock.now - start
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "1")
            #expect(decode(refused.body)["error"] as? String == "unavailable")
            #expect(!String(buffer: refused.body).contains("SQLITE") && !String(buffer: refused.body).contains("postgres"))  // no internals leak
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

/// The drill's stuck SQLite transaction, as one of the locks this suite holds.
extension SQLiteWriteLock: DatabaseOutageTests.Lock {}
