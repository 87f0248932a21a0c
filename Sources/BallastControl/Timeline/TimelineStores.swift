import BallastAPI
import Foundation
import GRDB
import Synchronization

/// Where a page of events ended: the last event's time and id. The next page is the events
/// after it in the query's order, `(at, id)` compared as a pair, so events at the same
/// instant are neither repeated nor skipped.
package struct EventCursor: Sendable, Equatable {
    package var at: Date
    package var id: Int64
    /// Times closer than this are one instant, ordered by id (stores keep microseconds).
    package static let sameInstant: TimeInterval = 0.000_001

    package init(at: Date, id: Int64) {
        self.at = at
        self.id = id
    }

    /// `SECONDS_ID` (the Unix time as Swift prints a Double, which reads back exactly).
    package var text: String { "\(at.timeIntervalSince1970)_\(id)" }

    package init?(text: String) {
        let parts = text.split(separator: "_")
        guard parts.count == 2, let seconds = Double(parts[0]), seconds.isFinite, let id = Int64(parts[1]) else { return nil }
        self.init(at: Date(timeIntervalSince1970: seconds), id: id)
    }
}

/// Which events to read: a time range, kinds, and how many.
package struct EventQuery: Sendable, Equatable {
    package var since: Date?
    package var until: Date?
    /// Exact kinds (`server.down`) or prefixes ending in a dot (`incident.`); nil for all.
    package var kinds: [String]?
    package var limit: Int
    /// Newest first instead of oldest first (the limit then keeps the newest).
    package var newestFirst: Bool
    /// Only events after this one in the query's order (the next page).
    package var after: EventCursor?

    package init(since: Date? = nil, until: Date? = nil, kinds: [String]? = nil, limit: Int = 1000, newestFirst: Bool = false,
                 after: EventCursor? = nil) {
        self.since = since
        self.until = until
        self.kinds = kinds
        self.limit = limit
        self.newestFirst = newestFirst
        self.after = after
    }

    func matches(_ event: TimelineEvent) -> Bool {
        if let since, event.at < since { return false }
        if let until, event.at > until { return false }
        if let kinds, !kinds.contains(where: { $0.hasSuffix(".") ? event.kind.hasPrefix($0) : event.kind == $0 }) { return false }
        if let after, !comesAfter(event, after) { return false }
        return true
    }

    /// An event not yet written has no id: it sorts after every written one at its instant.
    /// "The same instant" is within `EventCursor.sameInstant`: a time read back from a store
    /// or a cursor's text can differ from the original in its last bits.
    private func comesAfter(_ event: TimelineEvent, _ cursor: EventCursor) -> Bool {
        let apart = event.at.timeIntervalSince(cursor.at)
        if abs(apart) > EventCursor.sameInstant { return newestFirst ? apart < 0 : apart > 0 }
        return newestFirst ? (event.id ?? .min) < cursor.id : (event.id ?? .max) > cursor.id
    }

    /// Sorts `events` in the query's order, `(at, id)`.
    func ordered(_ events: [TimelineEvent]) -> [TimelineEvent] {
        events.sorted { a, b in
            if a.at != b.at { return newestFirst ? a.at > b.at : a.at < b.at }
            let (x, y) = (a.id ?? .max, b.id ?? .max)
            return newestFirst ? x > y : x < y
        }
    }

    /// The cursor for the page after `page` (when the page was full there may be more; a
    /// follower asks again later with it either way): the last written event of the page, so
    /// an event still being written is read again rather than missed. nil when the page holds
    /// no written event.
    package func next(after page: [TimelineEvent]) -> EventCursor? {
        guard let last = page.last(where: { $0.id != nil }), let id = last.id else { return nil }
        return EventCursor(at: last.at, id: id)
    }
}

/// Where the timeline is kept, with the stack's vital signs beside it (one point a second,
/// for postmortem charts and impact figures).
package protocol TimelineStore: Sendable {
    func append(_ event: TimelineEvent) async throws
    func events(_ query: EventQuery) async throws -> [TimelineEvent]
    func appendVitals(_ vitals: Vitals) async throws
    /// Vital signs between `from` and `to`, oldest first.
    func vitals(from: Date, to: Date) async throws -> [Vitals]
}

extension TimelineStore {
    /// Events at or after `since`, oldest first, at most `limit`.
    package func events(since: Date?, limit: Int) async throws -> [TimelineEvent] {
        try await events(EventQuery(since: since, limit: limit))
    }
}

/// A WAL pool on the SQLite file at `path`, creating its directory; a writer waits
/// `busyTimeout` seconds for another's lock.
func openSQLitePool(path: String, busyTimeout: TimeInterval) throws -> DatabasePool {
    var configuration = Configuration()
    configuration.busyMode = .timeout(busyTimeout)
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
    return try DatabasePool(path: path, configuration: configuration)
}

/// The timeline in the stack's SQLite database (the auth service's file under `ballast up`).
package final class SQLiteTimelineStore: TimelineStore {
    /// Vital signs older than this are pruned.
    static let vitalsRetention: TimeInterval = 7 * 86_400
    private let pool: DatabasePool
    private let appendsSincePrune = Mutex(0)
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    package init(path: String) throws {
        pool = try openSQLitePool(path: path, busyTimeout: 10)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("timeline-v1") { db in
            try db.execute(sql: """
                CREATE TABLE timeline (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    source TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    subject TEXT,
                    message TEXT NOT NULL
                );
                CREATE INDEX timeline_at ON timeline(at);
                """)
        }
        migrator.registerMigration("timeline-v2-details") { db in
            try db.execute(sql: "ALTER TABLE timeline ADD COLUMN details TEXT")
        }
        migrator.registerMigration("timeline-v3-vitals") { db in
            try db.execute(sql: """
                CREATE INDEX timeline_kind ON timeline(kind, at);
                CREATE TABLE vitals (at REAL PRIMARY KEY, body TEXT NOT NULL);
                """)
        }
        try migrator.migrate(pool)
    }

    package func append(_ event: TimelineEvent) async throws {
        try await pool.write { db in
            let details = try event.details.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
            try db.execute(sql: "INSERT INTO timeline (at, source, kind, subject, message, details) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [event.at.timeIntervalSince1970, event.source, event.kind, event.subject, event.message, details])
        }
    }

    package func events(_ query: EventQuery) async throws -> [TimelineEvent] {
        var conditions = ["at >= ?"]
        var arguments: StatementArguments = [query.since?.timeIntervalSince1970 ?? 0]
        if let until = query.until {
            conditions.append("at <= ?")
            _ = arguments.append(contentsOf: [until.timeIntervalSince1970])
        }
        if let kinds = query.kinds {
            let alternatives = kinds.map { $0.hasSuffix(".") ? "kind LIKE ? ESCAPE '\\'" : "kind = ?" }
            conditions.append("(" + (alternatives.isEmpty ? "0" : alternatives.joined(separator: " OR ")) + ")")
            for kind in kinds {
                let escaped = kind.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_")
                _ = arguments.append(contentsOf: [kind.hasSuffix(".") ? escaped + "%" : kind])
            }
        }
        if let after = query.after {
            let (low, high) = (after.at.timeIntervalSince1970 - EventCursor.sameInstant, after.at.timeIntervalSince1970 + EventCursor.sameInstant)
            conditions.append(query.newestFirst ? "(at < ? OR (at <= ? AND id < ?))" : "(at > ? OR (at >= ? AND id > ?))")
            _ = arguments.append(contentsOf: query.newestFirst ? [low, high, after.id] : [high, low, after.id])
        }
        _ = arguments.append(contentsOf: [query.limit])
        let bound = arguments
        let order = query.newestFirst ? "at DESC, id DESC" : "at, id"
        let sql = "SELECT * FROM timeline WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT ?"
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: bound).map { row in
                var event = TimelineEvent(at: Date(timeIntervalSince1970: row["at"]), source: row["source"], kind: row["kind"],
                                          subject: row["subject"], message: row["message"])
                event.id = row["id"]
                if let text: String = row["details"] {
                    event.details = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))
                }
                return event
            }
        }
    }

    package func appendVitals(_ vitals: Vitals) async throws {
        let body = String(decoding: try Self.encoder.encode(vitals), as: UTF8.self)
        let prune = appendsSincePrune.withLock { count in
            count += 1
            if count >= 3600 { count = 0; return true }
            return false
        }
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO vitals (at, body) VALUES (?, ?)", arguments: [vitals.at.timeIntervalSince1970, body])
            if prune {
                try db.execute(sql: "DELETE FROM vitals WHERE at < ?",
                               arguments: [vitals.at.timeIntervalSince1970 - Self.vitalsRetention])
            }
        }
    }

    package func vitals(from: Date, to: Date) async throws -> [Vitals] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT body FROM vitals WHERE at >= ? AND at <= ? ORDER BY at",
                                arguments: [from.timeIntervalSince1970, to.timeIntervalSince1970])
                .compactMap { try? JSONDecoder().decode(Vitals.self, from: Data($0.utf8)) }
        }
    }
}

/// The timeline when no database is configured (`ballast lb` without `--state`): kept in
/// memory, bounded, lost at exit.
package actor MemoryTimelineStore: TimelineStore {
    private var stored: [TimelineEvent] = []
    private var storedVitals: [Vitals] = []
    private var nextID: Int64 = 1
    private let capacity: Int

    package init(capacity: Int = 100_000) { self.capacity = capacity }

    package func append(_ event: TimelineEvent) {
        var event = event
        event.id = nextID
        nextID += 1
        stored.append(event)
        if stored.count > capacity { stored.removeFirst(stored.count - capacity) }
    }

    package func events(_ query: EventQuery) -> [TimelineEvent] {
        Array(query.ordered(stored.filter(query.matches)).prefix(query.limit))
    }

    package func appendVitals(_ vitals: Vitals) {
        storedVitals.append(vitals)
        if storedVitals.count > capacity { storedVitals.removeFirst(storedVitals.count - capacity) }
    }

    package func vitals(from: Date, to: Date) -> [Vitals] {
        storedVitals.filter { $0.at >= from && $0.at <= to }
    }
}
