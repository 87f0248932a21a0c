import BallastProxy
import Foundation
import GRDB
import Logging

/// Something that happened to the stack, with when and where it came from.
public struct TimelineEvent: Sendable, Codable, Equatable {
    public var id: Int64?
    public var at: Date
    /// Who recorded it: `config`, `rollout`, `health`, `outlier`, `replica`, `alert`, `drill`.
    public var source: String
    /// What happened, dotted: `config.applied`, `rollout.rolled_back`, `server.down`, …
    public var kind: String
    /// What it happened to: a server, an upstream, a config version.
    public var subject: String?
    public var message: String
    /// Facts a machine reads later (an alert's severity and runbook, a change's diff).
    public var details: [String: String]?

    public init(at: Date = Date(), source: String, kind: String, subject: String? = nil, message: String,
                details: [String: String]? = nil) {
        self.at = at
        self.source = source
        self.kind = kind
        self.subject = subject
        self.message = message
        self.details = details
    }
}

/// Where the timeline is kept.
public protocol TimelineStore: Sendable {
    func append(_ event: TimelineEvent) async throws
    /// Events at or after `since`, oldest first, at most `limit`.
    func events(since: Date?, limit: Int) async throws -> [TimelineEvent]
}

/// The timeline in the stack's SQLite database (the auth service's file under `ballast up`).
public final class SQLiteTimelineStore: TimelineStore {
    private let pool: DatabasePool
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        pool = try DatabasePool(path: path, configuration: configuration)
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
        try migrator.migrate(pool)
    }

    public func append(_ event: TimelineEvent) async throws {
        try await pool.write { db in
            let details = try event.details.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
            try db.execute(sql: "INSERT INTO timeline (at, source, kind, subject, message, details) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [event.at.timeIntervalSince1970, event.source, event.kind, event.subject, event.message, details])
        }
    }

    public func events(since: Date?, limit: Int) async throws -> [TimelineEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM timeline WHERE at >= ? ORDER BY at, id LIMIT ?",
                             arguments: [since?.timeIntervalSince1970 ?? 0, limit]).map { row in
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
}

/// The timeline when no database is configured (`ballast lb` without `--state`): kept in
/// memory, bounded, lost at exit.
public actor MemoryTimelineStore: TimelineStore {
    private var stored: [TimelineEvent] = []
    private var nextID: Int64 = 1
    private let capacity: Int

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public func append(_ event: TimelineEvent) {
        var event = event
        event.id = nextID
        nextID += 1
        stored.append(event)
        if stored.count > capacity { stored.removeFirst(stored.count - capacity) }
    }

    public func events(since: Date?, limit: Int) -> [TimelineEvent] {
        Array(stored.filter { $0.at >= (since ?? .distantPast) }.prefix(limit))
    }
}

/// Records events without ever blocking the caller: the data plane posts health flips from
/// its event loops, and a slow or failing database must not slow traffic.
public struct Timeline: Sendable {
    public let store: any TimelineStore
    let logger: Logger

    public init(store: any TimelineStore, logger: Logger = Logger(label: "ballast.timeline")) {
        self.store = store
        self.logger = logger
    }

    /// Records `event` and waits for it (control-plane callers).
    public func record(_ event: TimelineEvent) async {
        do {
            try await store.append(event)
        } catch {
            logger.error("timeline event not stored", metadata: ["kind": .string(event.kind), "error": "\(error)"])
        }
    }

    /// Records `event` in the background (data-plane callers).
    public func post(_ event: TimelineEvent) {
        let timeline = self
        Task { await timeline.record(event) }
    }
}

extension TimelineEvent {
    /// A health flip or ejection the data plane noticed.
    public init(_ event: ProxyEvent, at date: Date = Date()) {
        switch event {
        case .serverHealth(let upstream, let server, let healthy, let reason):
            self.init(at: date, source: "health", kind: healthy ? "server.up" : "server.down", subject: "\(upstream)/\(server)",
                      message: "server \(server) of upstream '\(upstream)' is \(healthy ? "up" : "down"): \(reason)")
        case .serverEjected(let upstream, let server, let seconds):
            self.init(at: date, source: "outlier", kind: "server.ejected", subject: "\(upstream)/\(server)",
                      message: "server \(server) of upstream '\(upstream)' ejected for \(Int(seconds.rounded())) s after consecutive failures")
        }
    }
}
