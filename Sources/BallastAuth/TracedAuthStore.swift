import Foundation
import Tracing

/// An `AuthStore` whose every call is a span (`store.user(named:)`, …) of the request being
/// served, with `db.system`: what a trace of a slow login shows of the database. Used when
/// `ballast auth` exports traces; without a tracer each span is swift-distributed-tracing's no-op.
package struct TracedAuthStore: AuthStore {
    package let inner: any AuthStore
    let system: String

    package init(_ inner: any AuthStore, system: String) {
        self.inner = inner
        self.system = system
    }

    private func traced<T: Sendable>(_ name: String, _ body: () async throws -> T) async throws -> T {
        try await withSpan("store.\(name)", ofKind: .client) { span in
            span.attributes["db.system"] = system
            return try await body()
        }
    }

    package func migrate() async throws { try await traced("migrate") { try await inner.migrate() } }
    package func ping() async throws { try await traced("ping") { try await inner.ping() } }
    package func createUser(_ user: UserRecord) async throws { try await traced("createUser") { try await inner.createUser(user) } }
    package func user(named username: String) async throws -> UserRecord? {
        try await traced("user(named:)") { try await inner.user(named: username) }
    }
    package func user(id: String) async throws -> UserRecord? { try await traced("user(id:)") { try await inner.user(id: id) } }
    package func setPassword(userID: String, hash: String) async throws {
        try await traced("setPassword") { try await inner.setPassword(userID: userID, hash: hash) }
    }
    package func createSession(_ session: SessionRecord) async throws {
        try await traced("createSession") { try await inner.createSession(session) }
    }
    package func session(tokenHash: String) async throws -> SessionRecord? {
        try await traced("session(tokenHash:)") { try await inner.session(tokenHash: tokenHash) }
    }
    package func touchSession(id: String, at: Date) async throws { try await traced("touchSession") { try await inner.touchSession(id: id, at: at) } }
    package func sessions(userID: String) async throws -> [SessionRecord] {
        try await traced("sessions(userID:)") { try await inner.sessions(userID: userID) }
    }
    package func deleteSession(id: String, userID: String) async throws -> Bool {
        try await traced("deleteSession") { try await inner.deleteSession(id: id, userID: userID) }
    }
    package func deleteSessions(userID: String, except keptID: String?) async throws {
        try await traced("deleteSessions") { try await inner.deleteSessions(userID: userID, except: keptID) }
    }
    package func countActiveSessions(now: Date, idleSince: Date) async throws -> Int {
        try await traced("countActiveSessions") { try await inner.countActiveSessions(now: now, idleSince: idleSince) }
    }
    package func recordFailure(keys: [String], now: Date, window: TimeInterval) async throws -> [String: ThrottleRecord] {
        try await traced("recordFailure") { try await inner.recordFailure(keys: keys, now: now, window: window) }
    }
    package func reserveAttempt(keys: [String], now: Date, window: TimeInterval,
                                decide: @escaping @Sendable ([String: ThrottleRecord]) -> TimeInterval?) async throws -> TimeInterval? {
        try await traced("reserveAttempt") { try await inner.reserveAttempt(keys: keys, now: now, window: window, decide: decide) }
    }
    package func releaseAttempt(keys: [String]) async throws { try await traced("releaseAttempt") { try await inner.releaseAttempt(keys: keys) } }
    package func throttle(keys: [String]) async throws -> [String: ThrottleRecord] {
        try await traced("throttle") { try await inner.throttle(keys: keys) }
    }
    package func clearThrottle(key: String) async throws { try await traced("clearThrottle") { try await inner.clearThrottle(key: key) } }
    package func pruneThrottle(before: Date) async throws -> Int { try await traced("pruneThrottle") { try await inner.pruneThrottle(before: before) } }
    package func addDevice(tokenHash: String, username: String, at: Date) async throws {
        try await traced("addDevice") { try await inner.addDevice(tokenHash: tokenHash, username: username, at: at) }
    }
    package func deviceUsername(tokenHash: String) async throws -> String? {
        try await traced("deviceUsername") { try await inner.deviceUsername(tokenHash: tokenHash) }
    }
    package func pruneDevices(before: Date) async throws -> Int { try await traced("pruneDevices") { try await inner.pruneDevices(before: before) } }
    package func audit(_ event: AuditEvent) async throws { try await traced("audit") { try await inner.audit(event) } }
    package func auditEvents(limit: Int) async throws -> [AuditEvent] { try await traced("auditEvents") { try await inner.auditEvents(limit: limit) } }
    package func pruneAudit(before: Date) async throws -> Int { try await traced("pruneAudit") { try await inner.pruneAudit(before: before) } }
}
