import BallastAPI
import BallastStorage
import Foundation
import Logging
import PostgresNIO

/// The timeline and vital signs in PostgreSQL, shared by every balancer and read by any of them
/// (incidents are replayed from it). `details` and vitals are JSON text, as in SQLite.
package final class PostgresTimelineStore: TimelineStore {
    let database: SharedDatabase
    private let logger = Logger(label: "ballast.timeline.postgres")
    static let vitalsRetention: TimeInterval = 7 * 86_400
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    package init(database: SharedDatabase) {
        self.database = database
    }

    static let migrations: [(id: String, sql: String)] = [
        ("v1", """
            CREATE TABLE timeline (
                id BIGSERIAL PRIMARY KEY,
                at TIMESTAMPTZ NOT NULL,
                source TEXT NOT NULL,
                kind TEXT NOT NULL,
                subject TEXT,
                message TEXT NOT NULL,
                details TEXT
            );
            CREATE INDEX timeline_at ON timeline(at);
            CREATE INDEX timeline_kind ON timeline(kind, at);
            CREATE TABLE vitals (at TIMESTAMPTZ PRIMARY KEY, body TEXT NOT NULL)
            """),
    ]

    package func migrate() async throws {
        try await database.migrate("timeline", Self.migrations)
    }

    package func append(_ event: TimelineEvent) async throws {
        let details = try event.details.map { String(decoding: try Self.encoder.encode($0), as: UTF8.self) }
        try await database.execute("""
            INSERT INTO timeline (at, source, kind, subject, message, details)
            VALUES (\(event.at), \(event.source), \(event.kind), \(event.subject), \(event.message), \(details))
            """)
    }

    package func events(_ query: EventQuery) async throws -> [TimelineEvent] {
        var binds = PostgresBindings()
        var conditions: [String] = []
        func bind(_ value: some PostgresEncodable & Sendable) throws -> String {
            try binds.append(value)
            return "$\(binds.count)"
        }
        conditions.append("at >= \(try bind(query.since ?? Date(timeIntervalSince1970: 0)))")
        if let until = query.until { conditions.append("at <= \(try bind(until))") }
        if let kinds = query.kinds {
            let alternatives = try kinds.map { kind in
                guard kind.hasSuffix(".") else { return "kind = \(try bind(kind))" }
                let escaped = kind.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                    .replacingOccurrences(of: "_", with: "\\_")
                return "kind LIKE \(try bind(escaped + "%"))"
            }
            conditions.append("(" + (alternatives.isEmpty ? "false" : alternatives.joined(separator: " OR ")) + ")")
        }
        if let after = query.after {
            let (low, high) = (after.at.addingTimeInterval(-EventCursor.sameInstant), after.at.addingTimeInterval(EventCursor.sameInstant))
            conditions.append(query.newestFirst
                ? "(at < \(try bind(low)) OR (at <= \(try bind(high)) AND id < \(try bind(after.id))))"
                : "(at > \(try bind(high)) OR (at >= \(try bind(low)) AND id > \(try bind(after.id))))")
        }
        let order = query.newestFirst ? "at DESC, id DESC" : "at, id"
        let sql = "SELECT id, at, source, kind, subject, message, details FROM timeline WHERE \(conditions.joined(separator: " AND ")) "
            + "ORDER BY \(order) LIMIT \(try bind(query.limit))"
        let statement = PostgresQuery(unsafeSQL: sql, binds: binds)
        return try await database.run { client in
            var events: [TimelineEvent] = []
            let rows = try await client.query(statement)
            for try await (id, at, source, kind, subject, message, details) in rows.decode((Int64, Date, String, String, String?, String, String?).self) {
                var event = TimelineEvent(at: at, source: source, kind: kind, subject: subject, message: message)
                event.id = id
                event.details = details.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
                events.append(event)
            }
            return events
        }
    }

    package func appendVitals(_ vitals: Vitals) async throws {
        let body = String(decoding: try Self.encoder.encode(vitals), as: UTF8.self)
        let horizon = vitals.at.addingTimeInterval(-Self.vitalsRetention)
        let logger = self.logger
        try await database.transaction { connection in
            try await connection.query("""
                INSERT INTO vitals (at, body) VALUES (\(vitals.at), \(body)) ON CONFLICT (at) DO UPDATE SET body = excluded.body
                """, logger: logger)
            try await connection.query("DELETE FROM vitals WHERE at < \(horizon)", logger: logger)
        }
    }

    package func vitals(from: Date, to: Date) async throws -> [Vitals] {
        try await database.run { client in
            var result: [Vitals] = []
            for try await body in try await client.query("SELECT body FROM vitals WHERE at >= \(from) AND at <= \(to) ORDER BY at").decode(String.self) {
                if let vitals = try? JSONDecoder().decode(Vitals.self, from: Data(body.utf8)) { result.append(vitals) }
            }
            return result
        }
    }
}
