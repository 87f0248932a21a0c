import BallastStorage
import Foundation
import Logging
import PostgresNIO

/// The shared store for replicas on several hosts: the same tables as SQLite in PostgreSQL.
///
/// Every write is one statement or one transaction, so a lost connection leaves nothing
/// half-written; a database that does not answer within the operation timeout is
/// `AuthStoreError.unavailable` (503 + Retry-After), the same contract as a locked SQLite file.
package final class PostgresAuthStore: AuthStore {
    let database: SharedDatabase
    /// Reservations wait for their keys' locks here, not on a pooled connection.
    private let reservations = ReservationGate()

    package init(url: PostgresURL) {
        database = SharedDatabase(url: url, logger: .init(label: "ballast.auth.postgres"))
    }

    package init(database: SharedDatabase) {
        self.database = database
    }

    static let migrations: [(id: String, sql: String)] = [
        ("v1", """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                username TEXT NOT NULL,
                username_key TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL
            );
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                token_hash TEXT NOT NULL UNIQUE,
                created_at TIMESTAMPTZ NOT NULL,
                last_seen_at TIMESTAMPTZ NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL
            );
            CREATE INDEX sessions_user ON sessions(user_id);
            CREATE INDEX sessions_active ON sessions(expires_at, last_seen_at);
            CREATE TABLE login_throttle (
                key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                window_start TIMESTAMPTZ NOT NULL,
                last_failure TIMESTAMPTZ NOT NULL
            );
            CREATE TABLE audit_log (
                id BIGSERIAL PRIMARY KEY,
                at TIMESTAMPTZ NOT NULL,
                kind TEXT NOT NULL,
                username TEXT,
                user_id TEXT,
                client_ip TEXT,
                detail TEXT
            )
            """),
        // Pruning reads by age.
        ("v2", """
            CREATE INDEX audit_at ON audit_log(at);
            CREATE INDEX throttle_window ON login_throttle(window_start)
            """),
        ("v3", """
            CREATE TABLE devices (
                token_hash TEXT PRIMARY KEY,
                username_key TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL
            );
            CREATE INDEX devices_created ON devices(created_at)
            """),
    ]

    private let logger = Logger(label: "ballast.auth.postgres")

    /// Runs `operation`, turning an unreachable database into `AuthStoreError.unavailable`.
    private func guarded<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        do { return try await operation() } catch let error as StorageUnavailable {
            throw AuthStoreError.unavailable(error.reason)
        }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await guarded { try await database.run(body) }
    }

    private func execute(_ query: PostgresQuery) async throws {
        try await guarded { try await database.execute(query) }
    }

    private func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await guarded { try await database.transaction(body) }
    }

    package func migrate() async throws {
        try await guarded { try await database.migrate("auth", Self.migrations) }
    }

    package func ping() async throws {
        try await guarded { try await database.ping() }
    }

    package func createUser(_ user: UserRecord) async throws {
        do {
            try await execute("""
                    INSERT INTO users (id, username, username_key, password_hash, created_at)
                    VALUES (\(user.id), \(user.username), \(user.username.lowercased()), \(user.passwordHash), \(user.createdAt))
                    """)
        } catch where SharedDatabase.isUniqueViolation(error) {
            throw AuthStoreError.usernameTaken
        }
    }

    private static func users(_ rows: PostgresRowSequence) async throws -> [UserRecord] {
        var users: [UserRecord] = []
        for try await (id, username, hash, created) in rows.decode((String, String, String, Date).self) {
            users.append(UserRecord(id: id, username: username, passwordHash: hash, createdAt: created))
        }
        return users
    }

    package func user(named username: String) async throws -> UserRecord? {
        try await run { client in
            try await Self.users(client.query(
                "SELECT id, username, password_hash, created_at FROM users WHERE username_key = \(username.lowercased())")).first
        }
    }

    package func user(id: String) async throws -> UserRecord? {
        try await run { client in
            try await Self.users(client.query("SELECT id, username, password_hash, created_at FROM users WHERE id = \(id)")).first
        }
    }

    package func setPassword(userID: String, hash: String) async throws {
        try await execute("UPDATE users SET password_hash = \(hash) WHERE id = \(userID)")
    }

    private static let sessionColumns = "id, user_id, token_hash, created_at, last_seen_at, expires_at"

    private static func sessions(_ rows: PostgresRowSequence) async throws -> [SessionRecord] {
        var sessions: [SessionRecord] = []
        for try await (id, user, hash, created, seen, expires) in rows.decode((String, String, String, Date, Date, Date).self) {
            sessions.append(SessionRecord(id: id, userID: user, tokenHash: hash, createdAt: created, lastSeenAt: seen, expiresAt: expires))
        }
        return sessions
    }

    package func createSession(_ session: SessionRecord) async throws {
        try await execute("""
                INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at)
                VALUES (\(session.id), \(session.userID), \(session.tokenHash), \(session.createdAt), \(session.lastSeenAt), \(session.expiresAt))
                """)
    }

    package func session(tokenHash: String) async throws -> SessionRecord? {
        try await run { client in
            try await Self.sessions(client.query(PostgresQuery(
                unsafeSQL: "SELECT \(Self.sessionColumns) FROM sessions WHERE token_hash = $1", binds: Self.binds(tokenHash)))).first
        }
    }

    package func touchSession(id: String, at: Date) async throws {
        try await execute("UPDATE sessions SET last_seen_at = \(at) WHERE id = \(id)")
    }

    package func sessions(userID: String) async throws -> [SessionRecord] {
        try await run { client in
            try await Self.sessions(client.query(PostgresQuery(
                unsafeSQL: "SELECT \(Self.sessionColumns) FROM sessions WHERE user_id = $1 ORDER BY created_at", binds: Self.binds(userID))))
        }
    }

    package func deleteSession(id: String, userID: String) async throws -> Bool {
        try await run { client in
            var deleted = 0
            for try await _ in try await client.query("DELETE FROM sessions WHERE id = \(id) AND user_id = \(userID) RETURNING id") {
                deleted += 1
            }
            return deleted > 0
        }
    }

    package func deleteSessions(userID: String, except keptID: String?) async throws {
        try await execute("DELETE FROM sessions WHERE user_id = \(userID) AND id IS DISTINCT FROM \(keptID)")
    }

    package func countActiveSessions(now: Date, idleSince: Date) async throws -> Int {
        try await run { client in
            var count = 0
            for try await value in try await client.query(
                "SELECT COUNT(*) FROM sessions WHERE expires_at > \(now) AND last_seen_at > \(idleSince)").decode(Int.self) {
                count = value
            }
            return count
        }
    }

    package func recordFailure(keys: [String], now: Date, window: TimeInterval) async throws -> [String: ThrottleRecord] {
        let windowOpen = now.addingTimeInterval(-window)
        let logger = self.logger
        return try await transaction { connection in
            var records: [String: ThrottleRecord] = [:]
            for key in keys {
                // One statement per key: replicas on several hosts counting at once lose no increment.
                let rows = try await connection.query("""
                    INSERT INTO login_throttle AS t (key, failures, window_start, last_failure) VALUES (\(key), 1, \(now), \(now))
                    ON CONFLICT (key) DO UPDATE SET
                        failures = CASE WHEN t.window_start <= \(windowOpen) THEN 1 ELSE t.failures + 1 END,
                        window_start = CASE WHEN t.window_start <= \(windowOpen) THEN excluded.window_start ELSE t.window_start END,
                        last_failure = excluded.last_failure
                    RETURNING failures, window_start, last_failure
                    """, logger: logger)
                for try await (failures, start, last) in rows.decode((Int, Date, Date).self) {
                    records[key] = ThrottleRecord(failures: failures, windowStart: start, lastFailure: last)
                }
            }
            return records
        }
    }

    package func reserveAttempt(keys: [String], now: Date, window: TimeInterval,
                               decide: @escaping @Sendable ([String: ThrottleRecord]) -> TimeInterval?) async throws -> TimeInterval? {
        let windowOpen = now.addingTimeInterval(-window)
        let logger = self.logger
        return try await reservations.run { try await self.transaction { connection in
            // A transaction-scoped advisory lock per key, taken in one order so two reservations
            // cannot deadlock: every replica's reservation of a key waits for the one before it,
            // also for a key that has no row yet. Advisory locks belong to the database, not the
            // schema, so the schema is part of the key: stacks sharing a database do not wait
            // for each other.
            // One statement for all the locks, one for the read, one for the counts: few round
            // trips, so a loaded machine still answers well within the operation timeout.
            let ordered = Set(keys).sorted()
            for try await _ in try await connection.query("""
                SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '|' || k, 0))
                FROM unnest(\(ordered)::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n
                """, logger: logger) {}
            var records: [String: ThrottleRecord] = [:]
            let rows = try await connection.query(
                "SELECT key, failures, window_start, last_failure FROM login_throttle WHERE key = ANY(\(keys))", logger: logger)
            for try await (key, failures, start, last) in rows.decode((String, Int, Date, Date).self) {
                records[key] = ThrottleRecord(failures: failures, windowStart: start, lastFailure: last)
            }
            if let wait = decide(records) { return wait }
            for try await _ in try await connection.query("""
                INSERT INTO login_throttle AS t (key, failures, window_start, last_failure)
                SELECT k, 1, \(now), \(now) FROM unnest(\(ordered)::text[]) AS k
                ON CONFLICT (key) DO UPDATE SET
                    failures = CASE WHEN t.window_start <= \(windowOpen) THEN 1 ELSE t.failures + 1 END,
                    window_start = CASE WHEN t.window_start <= \(windowOpen) THEN excluded.window_start ELSE t.window_start END,
                    last_failure = excluded.last_failure
                """, logger: logger) {}
            return nil
        } }
    }

    package func releaseAttempt(keys: [String]) async throws {
        try await execute("UPDATE login_throttle SET failures = GREATEST(failures - 1, 0) WHERE key = ANY(\(keys))")
    }

    package func pruneThrottle(before: Date) async throws -> Int {
        try await run { client in
            let rows = try await client.query("WITH gone AS (DELETE FROM login_throttle WHERE window_start < \(before) RETURNING 1) SELECT count(*) FROM gone")
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    package func addDevice(tokenHash: String, username: String, at: Date) async throws {
        try await execute("""
            INSERT INTO devices (token_hash, username_key, created_at) VALUES (\(tokenHash), \(username.lowercased()), \(at))
            ON CONFLICT (token_hash) DO NOTHING
            """)
    }

    package func deviceUsername(tokenHash: String) async throws -> String? {
        try await run { client in
            let rows = try await client.query("SELECT username_key FROM devices WHERE token_hash = \(tokenHash)")
            for try await name in rows.decode(String.self) { return name }
            return nil
        }
    }

    package func pruneDevices(before: Date) async throws -> Int {
        try await run { client in
            let rows = try await client.query("WITH gone AS (DELETE FROM devices WHERE created_at < \(before) RETURNING 1) SELECT count(*) FROM gone")
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    package func pruneAudit(before: Date) async throws -> Int {
        try await run { client in
            let rows = try await client.query("WITH gone AS (DELETE FROM audit_log WHERE at < \(before) RETURNING 1) SELECT count(*) FROM gone")
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    package func throttle(keys: [String]) async throws -> [String: ThrottleRecord] {
        try await run { client in
            var records: [String: ThrottleRecord] = [:]
            let rows = try await client.query("SELECT key, failures, window_start, last_failure FROM login_throttle WHERE key = ANY(\(keys))")
            for try await (key, failures, start, last) in rows.decode((String, Int, Date, Date).self) {
                records[key] = ThrottleRecord(failures: failures, windowStart: start, lastFailure: last)
            }
            return records
        }
    }

    package func clearThrottle(key: String) async throws {
        try await execute("DELETE FROM login_throttle WHERE key = \(key)")
    }

    package func audit(_ event: AuditEvent) async throws {
        try await execute("""
                INSERT INTO audit_log (at, kind, username, user_id, client_ip, detail)
                VALUES (\(event.at), \(event.kind), \(event.username), \(event.userID), \(event.clientIP), \(event.detail))
                """)
    }

    package func auditEvents(limit: Int) async throws -> [AuditEvent] {
        try await run { client in
            var events: [AuditEvent] = []
            let rows = try await client.query(
                "SELECT at, kind, username, user_id, client_ip, detail FROM audit_log ORDER BY id DESC LIMIT \(limit)")
            for try await (at, kind, username, userID, ip, detail) in rows.decode((Date, String, String?, String?, String?, String?).self) {
                events.append(AuditEvent(at: at, kind: kind, username: username, userID: userID, clientIP: ip, detail: detail))
            }
            return events
        }
    }

    private static func binds(_ values: String...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }
}
