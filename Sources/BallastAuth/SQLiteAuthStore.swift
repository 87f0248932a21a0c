import Foundation
import GRDB

/// The embedded store: one SQLite file in WAL mode, shared by every replica on the machine.
///
/// SQLite serialises writers across processes; the busy timeout makes a replica wait its turn
/// instead of failing, but only briefly: a write lock held longer than that (a stuck
/// transaction, a full disk) is `AuthStoreError.unavailable`, answered 503 at once, not a queue
/// of requests that each hang and then fail. Times are stored as Unix seconds (REAL) so comparisons are plain SQL.
package final class SQLiteAuthStore: AuthStore {
    private let pool: DatabasePool
    /// Seconds a write waits for another writer's lock.
    static let busyTimeout: TimeInterval = 2

    /// Opens (creating if needed) the database at `path`.
    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        migrationLock = path + "-migrate.lock"
    }

    /// A file beside the database that migrating processes lock (`flock`) one at a time.
    private let migrationLock: String

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    username TEXT NOT NULL,
                    username_key TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    token_hash TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL,
                    last_seen_at REAL NOT NULL,
                    expires_at REAL NOT NULL
                );
                CREATE INDEX sessions_user ON sessions(user_id);
                CREATE TABLE login_throttle (
                    key TEXT PRIMARY KEY,
                    failures INTEGER NOT NULL,
                    window_start REAL NOT NULL,
                    last_failure REAL NOT NULL
                );
                CREATE TABLE audit_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    kind TEXT NOT NULL,
                    username TEXT,
                    user_id TEXT,
                    client_ip TEXT,
                    detail TEXT
                );
                """)
        }
        // Pruning reads by age; the active-session count by expiry (as in PostgreSQL's v1).
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE INDEX sessions_active ON sessions(expires_at, last_seen_at);
                CREATE INDEX audit_at ON audit_log(at);
                CREATE INDEX throttle_window ON login_throttle(window_start);
                """)
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                CREATE TABLE devices (
                    token_hash TEXT PRIMARY KEY,
                    username_key TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE INDEX devices_created ON devices(created_at);
                """)
        }
        return migrator
    }

    private func write<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as DatabaseError { throw Self.mapped(error) }
    }

    private func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch let error as DatabaseError { throw Self.mapped(error) }
    }

    /// Busy, locked, full or unopenable: the database is unavailable; anything else stays as is.
    static func mapped(_ error: DatabaseError) -> any Error {
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_READONLY:
            return AuthStoreError.unavailable("\(error.resultCode): \(error.message ?? "")")
        default:
            return error
        }
    }

    /// Seconds `migrate` keeps trying while other processes hold the write lock: replicas
    /// started together on a new file (a service manager's parallel start) each migrate, and
    /// one busy timeout is not enough for a loaded machine's worth of them.
    static let migrationPatience: TimeInterval = 30

    /// GRDB's migrator is synchronous: it runs on a dispatch queue, never on a Swift
    /// concurrency thread, which it would hold for as long as the schema takes (and another
    /// process's write lock, up to the busy timeout). A busy or locked database is tried again
    /// until `migrationPatience` has passed; a migration that another process completed
    /// meanwhile is then found applied.
    package func migrate() async throws { try await migrate(patience: Self.migrationPatience) }

    func migrate(patience: TimeInterval) async throws {
        let pool = self.pool
        let lockPath = migrationLock
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                let deadline = Date().addingTimeInterval(patience)
                // GRDB reads which migrations are applied before it takes the write lock, so two
                // processes could both see none and the second fail on `CREATE TABLE users`
                // ("already exists": CI saw it). One at a time: whoever comes second finds them applied.
                let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
                defer { if lock >= 0 { close(lock) } }
                while lock >= 0, flock(lock, LOCK_EX | LOCK_NB) != 0 {
                    guard Date() < deadline else {
                        continuation.resume(throwing: AuthStoreError.unavailable("another process has been migrating \(lockPath) for \(Int(patience)) s"))
                        return
                    }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                while true {
                    do {
                        try Self.migrator.migrate(pool)
                        continuation.resume()
                        return
                    } catch let error as DatabaseError
                        where [.SQLITE_BUSY, .SQLITE_LOCKED].contains(error.resultCode) && Date() < deadline {
                        Thread.sleep(forTimeInterval: 0.05)
                    } catch {
                        continuation.resume(throwing: error)
                        return
                    }
                }
            }
        }
    }

    package func ping() async throws {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    package func createUser(_ user: UserRecord) async throws {
        do {
            try await write { db in
                try db.execute(
                    sql: "INSERT INTO users (id, username, username_key, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [user.id, user.username, user.username.lowercased(), user.passwordHash, user.createdAt.timeIntervalSince1970])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw AuthStoreError.usernameTaken
        }
    }

    private static func user(_ row: Row) -> UserRecord {
        UserRecord(id: row["id"], username: row["username"], passwordHash: row["password_hash"],
                   createdAt: Date(timeIntervalSince1970: row["created_at"]))
    }

    package func user(named username: String) async throws -> UserRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE username_key = ?", arguments: [username.lowercased()]).map(Self.user)
        }
    }

    package func user(id: String) async throws -> UserRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ?", arguments: [id]).map(Self.user)
        }
    }

    package func setPassword(userID: String, hash: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [hash, userID])
        }
    }

    private static func session(_ row: Row) -> SessionRecord {
        SessionRecord(id: row["id"], userID: row["user_id"], tokenHash: row["token_hash"],
                      createdAt: Date(timeIntervalSince1970: row["created_at"]),
                      lastSeenAt: Date(timeIntervalSince1970: row["last_seen_at"]),
                      expiresAt: Date(timeIntervalSince1970: row["expires_at"]))
    }

    package func createSession(_ session: SessionRecord) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [session.id, session.userID, session.tokenHash, session.createdAt.timeIntervalSince1970,
                            session.lastSeenAt.timeIntervalSince1970, session.expiresAt.timeIntervalSince1970])
        }
    }

    package func session(tokenHash: String) async throws -> SessionRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM sessions WHERE token_hash = ?", arguments: [tokenHash]).map(Self.session)
        }
    }

    package func touchSession(id: String, at: Date) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE sessions SET last_seen_at = ? WHERE id = ?", arguments: [at.timeIntervalSince1970, id])
        }
    }

    package func sessions(userID: String) async throws -> [SessionRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sessions WHERE user_id = ? ORDER BY created_at", arguments: [userID]).map(Self.session)
        }
    }

    package func deleteSession(id: String, userID: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE id = ? AND user_id = ?", arguments: [id, userID])
            return db.changesCount > 0
        }
    }

    package func deleteSessions(userID: String, except keptID: String?) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE user_id = ? AND id IS NOT ?", arguments: [userID, keptID])
        }
    }

    package func countActiveSessions(now: Date, idleSince: Date) async throws -> Int {
        try await read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sessions WHERE expires_at > ? AND last_seen_at > ?",
                             arguments: [now.timeIntervalSince1970, idleSince.timeIntervalSince1970]) ?? 0
        }
    }

    package func recordFailure(keys: [String], now: Date, window: TimeInterval) async throws -> [String: ThrottleRecord] {
        let t = now.timeIntervalSince1970
        return try await write { db in
            var records: [String: ThrottleRecord] = [:]
            for key in keys {
                try Self.count(db, key: key, at: t, window: window)
                if let row = try Row.fetchOne(db, sql: "SELECT * FROM login_throttle WHERE key = ?", arguments: [key]) {
                    records[key] = Self.throttle(row)
                }
            }
            return records
        }
    }

    /// One failure more under `key`. One statement, so two replicas counting at once cannot lose an increment.
    private static func count(_ db: Database, key: String, at t: TimeInterval, window: TimeInterval) throws {
        try db.execute(sql: """
            INSERT INTO login_throttle (key, failures, window_start, last_failure) VALUES (?, 1, ?, ?)
            ON CONFLICT(key) DO UPDATE SET
                failures = CASE WHEN window_start <= ? THEN 1 ELSE failures + 1 END,
                window_start = CASE WHEN window_start <= ? THEN excluded.window_start ELSE window_start END,
                last_failure = excluded.last_failure
            """, arguments: [key, t, t, t - window, t - window])
    }

    /// `BEGIN IMMEDIATE`: the write lock is taken before the first read, so no other
    /// connection, in this process or another replica's, can write between the read and the
    /// write (a deferred transaction would read a snapshot another writer may already have changed).
    private func exclusive<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        do {
            return try await pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError { throw Self.mapped(error) }
    }

    package func reserveAttempt(keys: [String], now: Date, window: TimeInterval,
                               decide: @escaping @Sendable ([String: ThrottleRecord]) -> TimeInterval?) async throws -> TimeInterval? {
        let t = now.timeIntervalSince1970
        return try await exclusive { db in
            var records: [String: ThrottleRecord] = [:]
            for key in keys {
                if let row = try Row.fetchOne(db, sql: "SELECT * FROM login_throttle WHERE key = ?", arguments: [key]) {
                    records[key] = Self.throttle(row)
                }
            }
            if let wait = decide(records) { return wait }
            for key in keys { try Self.count(db, key: key, at: t, window: window) }
            return nil
        }
    }

    package func releaseAttempt(keys: [String]) async throws {
        try await write { db in
            for key in keys {
                try db.execute(sql: "UPDATE login_throttle SET failures = MAX(failures - 1, 0) WHERE key = ?", arguments: [key])
            }
        }
    }

    package func pruneThrottle(before: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM login_throttle WHERE window_start < ?", arguments: [before.timeIntervalSince1970])
            return db.changesCount
        }
    }

    package func addDevice(tokenHash: String, username: String, at: Date) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO devices (token_hash, username_key, created_at) VALUES (?, ?, ?)",
                           arguments: [tokenHash, username.lowercased(), at.timeIntervalSince1970])
        }
    }

    package func deviceUsername(tokenHash: String) async throws -> String? {
        try await read { db in
            try String.fetchOne(db, sql: "SELECT username_key FROM devices WHERE token_hash = ?", arguments: [tokenHash])
        }
    }

    package func pruneDevices(before: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM devices WHERE created_at < ?", arguments: [before.timeIntervalSince1970])
            return db.changesCount
        }
    }

    package func pruneAudit(before: Date) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM audit_log WHERE at < ?", arguments: [before.timeIntervalSince1970])
            return db.changesCount
        }
    }

    private static func throttle(_ row: Row) -> ThrottleRecord {
        ThrottleRecord(failures: row["failures"], windowStart: Date(timeIntervalSince1970: row["window_start"]),
                       lastFailure: Date(timeIntervalSince1970: row["last_failure"]))
    }

    package func throttle(keys: [String]) async throws -> [String: ThrottleRecord] {
        try await read { db in
            var records: [String: ThrottleRecord] = [:]
            for key in keys {
                if let row = try Row.fetchOne(db, sql: "SELECT * FROM login_throttle WHERE key = ?", arguments: [key]) {
                    records[key] = Self.throttle(row)
                }
            }
            return records
        }
    }

    package func clearThrottle(key: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM login_throttle WHERE key = ?", arguments: [key])
        }
    }

    package func audit(_ event: AuditEvent) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT INTO audit_log (at, kind, username, user_id, client_ip, detail) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [event.at.timeIntervalSince1970, event.kind, event.username, event.userID, event.clientIP, event.detail])
        }
    }

    package func auditEvents(limit: Int) async throws -> [AuditEvent] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", arguments: [limit]).map { row in
                AuditEvent(at: Date(timeIntervalSince1970: row["at"]), kind: row["kind"], username: row["username"],
                           userID: row["user_id"], clientIP: row["client_ip"], detail: row["detail"])
            }
        }
    }
}
