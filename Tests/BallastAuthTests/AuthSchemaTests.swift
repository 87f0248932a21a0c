import BallastStorage
import Foundation
import GRDB
import PostgresNIO
import BallastDrill
import Testing
@testable import BallastAuth

/// The two auth stores keep the same schema where it matters for speed: the same explicit
/// indexes on the same columns, so a query that is quick on one is quick on the other.
@Suite struct AuthSchemaTests {
    /// Every index the migrations create (not those behind a primary key or UNIQUE), as
    /// `name ON table(columns)`.
    static let expected: Set<String> = [
        "sessions_user ON sessions(user_id)",
        "sessions_active ON sessions(expires_at, last_seen_at)",
        "audit_at ON audit_log(at)",
        "throttle_window ON login_throttle(window_start)",
        "devices_created ON devices(created_at)",
    ]

    static func indexes(_ kind: StoreKind) async throws -> Set<String> {
        let url = temporaryDatabase(kind)
        let store = try AuthStores.open(url)
        try await store.migrate()
        switch kind {
        case .sqlite:
            let queue = try DatabaseQueue(path: String(url.dropFirst("sqlite:".count)))
            return try await queue.read { db in
                // `sql` is NULL for the indexes SQLite makes itself for PRIMARY KEY and UNIQUE.
                let rows = try Row.fetchAll(db, sql: "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
                return Set(try rows.map { row in
                    let name: String = row["name"], table: String = row["tbl_name"]
                    let columns = try Row.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?) ORDER BY seqno", arguments: [name])
                        .map { $0["name"] as String }
                    return "\(name) ON \(table)(\(columns.joined(separator: ", ")))"
                })
            }
        case .postgres:
            let postgres = try #require(store as? PostgresAuthStore)
            defer { postgres.database.close() }
            return try await postgres.database.run { client in
                // Constraint indexes (primary keys, UNIQUE) are not the migrations' own.
                let rows = try await client.query("""
                    SELECT i.relname, t.relname, array_to_string(ARRAY(
                        SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)
                        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.n), ', ')
                    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                    JOIN pg_namespace s ON s.oid = t.relnamespace
                    WHERE s.nspname = current_schema()
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
                    """)
                var found: Set<String> = []
                for try await (index, table, columns) in rows.decode((String, String, String).self) {
                    found.insert("\(index) ON \(table)(\(columns))")
                }
                return found
            }
        }
    }

    @Test(arguments: StoreKind.available) func everyStoreHasTheSameIndexes(kind: StoreKind) async throws {
        #expect(try await Self.indexes(kind) == Self.expected)
    }

    /// Replicas started together on a new SQLite file each migrate: one that finds another's
    /// write lock held for longer than a request's busy timeout waits for it, then finds the
    /// schema in place, instead of exiting (and a service manager's parallel start losing it).
    @Test func aMigrationWaitsOutAnotherProcesssWriteLock() async throws {
        let path = String(temporaryDatabase(.sqlite).dropFirst("sqlite:".count))
        let first = try SQLiteAuthStore(path: path)
        let lock = try SQLiteWriteLock(path: path)
        let held = Task.detached {
            try await Task.sleep(for: .seconds(SQLiteAuthStore.busyTimeout + 1.5))
            lock.unlock()
        }
        let clock = ContinuousClock(), start = clock.now
        try await first.migrate()
        #expect(clock.now - start >= .seconds(SQLiteAuthStore.busyTimeout + 1))  // it did wait for the lock
        try await held.value
        // Another replica's migration finds everything applied; both stores work.
        let second = try SQLiteAuthStore(path: path)
        try await second.migrate()
        let user = UserRecord(id: "u1", username: "alice", passwordHash: "x", createdAt: Date())
        try await first.createUser(user)
        #expect(try await second.user(named: "alice")?.id == "u1")
    }

    /// Replicas migrating one new file at the same moment (each its own connection, as each
    /// process has): every one succeeds; none fails on a table another just created (CI saw
    /// "table users already exists" from a replica started beside two others).
    @Test func replicasMigratingTogetherAllSucceed() async throws {
        for _ in 0..<5 {
            let path = String(temporaryDatabase(.sqlite).dropFirst("sqlite:".count))
            let stores = try (0..<6).map { _ in try SQLiteAuthStore(path: path) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores { group.addTask { try await store.migrate() } }
                try await group.waitForAll()
            }
            try await stores[0].createUser(UserRecord(id: "u", username: "x", passwordHash: "h", createdAt: Date()))
            #expect(try await stores[5].user(id: "u") != nil)
        }
    }

    /// A database that stays locked past the patience is still an error, not a hang.
    @Test func aMigrationGivesUpOnALockHeldPastItsPatience() async throws {
        let path = String(temporaryDatabase(.sqlite).dropFirst("sqlite:".count))
        let store = try SQLiteAuthStore(path: path)
        let lock = try SQLiteWriteLock(path: path)
        defer { lock.unlock() }
        let clock = ContinuousClock(), start = clock.now
        await #expect(throws: DatabaseError.self) { try await store.migrate(patience: 0.5) }
        #expect(clock.now - start < .seconds(SQLiteAuthStore.busyTimeout * 2 + 3))
    }
}
