import Foundation

/// A user as stored: the password only as a hash.
package struct UserRecord: Sendable, Equatable {
    package var id: String
    package var username: String
    package var passwordHash: String
    package var createdAt: Date

    package init(id: String, username: String, passwordHash: String, createdAt: Date) {
        self.id = id
        self.username = username
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// A session as stored: the token only as its SHA-256, so a leaked table opens nothing.
package struct SessionRecord: Sendable, Equatable {
    package var id: String
    package var userID: String
    package var tokenHash: String
    package var createdAt: Date
    package var lastSeenAt: Date
    package var expiresAt: Date

    package init(id: String, userID: String, tokenHash: String, createdAt: Date, lastSeenAt: Date, expiresAt: Date) {
        self.id = id
        self.userID = userID
        self.tokenHash = tokenHash
        self.createdAt = createdAt
        self.lastSeenAt = lastSeenAt
        self.expiresAt = expiresAt
    }
}

/// Failed logins counted under one key within a window.
package struct ThrottleRecord: Sendable, Equatable {
    package var failures: Int
    package var windowStart: Date
    package var lastFailure: Date

    package init(failures: Int, windowStart: Date, lastFailure: Date) {
        self.failures = failures
        self.windowStart = windowStart
        self.lastFailure = lastFailure
    }
}

/// One line of the audit log.
package struct AuditEvent: Sendable, Equatable, Codable {
    package var at: Date
    package var kind: String
    package var username: String?
    package var userID: String?
    package var clientIP: String?
    package var detail: String?

    package init(at: Date, kind: String, username: String? = nil, userID: String? = nil, clientIP: String? = nil, detail: String? = nil) {
        self.at = at
        self.kind = kind
        self.username = username
        self.userID = userID
        self.clientIP = clientIP
        self.detail = detail
    }
}

package enum AuthStoreError: Error, Equatable {
    case usernameTaken
    /// The database did not take the operation in time (locked, busy, unreachable); nothing was
    /// written. Clients get 503 with Retry-After, so the failure is fast, visible and retryable.
    case unavailable(String)
}

/// Everything the auth service keeps, behind one protocol: SQLite (GRDB) embedded, PostgreSQL
/// when replicas span hosts. Every replica of a stack shares one store, so sessions and
/// throttling counts are the same whichever replica a request reaches.
package protocol AuthStore: Sendable {
    /// Creates or upgrades the schema (versioned migrations).
    func migrate() async throws
    /// Throws when the database cannot be reached (readiness).
    func ping() async throws

    func createUser(_ user: UserRecord) async throws
    func user(named username: String) async throws -> UserRecord?
    func user(id: String) async throws -> UserRecord?
    func setPassword(userID: String, hash: String) async throws

    func createSession(_ session: SessionRecord) async throws
    func session(tokenHash: String) async throws -> SessionRecord?
    func touchSession(id: String, at: Date) async throws
    func sessions(userID: String) async throws -> [SessionRecord]
    /// Deletes the user's session `id`; false when there is none.
    func deleteSession(id: String, userID: String) async throws -> Bool
    func deleteSessions(userID: String, except keptID: String?) async throws
    /// Sessions valid at `now`: not expired and seen since `idleSince`.
    func countActiveSessions(now: Date, idleSince: Date) async throws -> Int

    /// Adds one failure under each key atomically (a window older than `window` restarts).
    func recordFailure(keys: [String], now: Date, window: TimeInterval) async throws -> [String: ThrottleRecord]
    /// In one transaction that excludes every other reservation of these keys (on every
    /// replica): reads their records, asks `decide` for a wait, and when there is none counts
    /// one attempt under each key as `recordFailure` does. Returns the wait, or nil when the
    /// attempt was counted and may go ahead. N concurrent callers thus pass at most what the
    /// counts allow, however the requests interleave.
    func reserveAttempt(keys: [String], now: Date, window: TimeInterval,
                        decide: @escaping @Sendable ([String: ThrottleRecord]) -> TimeInterval?) async throws -> TimeInterval?
    /// Takes back one counted attempt under each key (an attempt that succeeded, or was never made).
    func releaseAttempt(keys: [String]) async throws
    func throttle(keys: [String]) async throws -> [String: ThrottleRecord]
    func clearThrottle(key: String) async throws
    /// Deletes throttle records whose window began before `before` (they count nothing any more).
    func pruneThrottle(before: Date) async throws -> Int

    /// Remembers a device that logged in as `username` (OWASP device cookies); only the
    /// token's SHA-256 is stored.
    func addDevice(tokenHash: String, username: String, at: Date) async throws
    /// The username (lower-cased) a device token was issued to, if it is known.
    func deviceUsername(tokenHash: String) async throws -> String?
    /// Forgets devices issued before `before`.
    func pruneDevices(before: Date) async throws -> Int

    func audit(_ event: AuditEvent) async throws
    func auditEvents(limit: Int) async throws -> [AuditEvent]
    /// Deletes audit events older than `before` (the retention); returns how many.
    func pruneAudit(before: Date) async throws -> Int
}
