import BallastAPI
import BallastStorage
import Foundation
import Logging
import PostgresNIO

/// Config versions in PostgreSQL, shared by every balancer. Version numbers come from one
/// sequence, so v7 is the same config everywhere; storing an applied version sends
/// `NOTIFY ballast_config` in the same transaction, so other balancers hear of it only once it
/// is committed.
package final class PostgresConfigVersionStore: ConfigVersionStore {
    let database: SharedDatabase
    let channel: String
    private let logger = Logger(label: "ballast.state.postgres")

    package init(database: SharedDatabase) {
        self.database = database
        channel = "ballast_config" + (database.url.schema.map { "_" + $0 } ?? "")
    }

    static let migrations: [(id: String, sql: String)] = [
        ("v1", """
            CREATE SEQUENCE config_version_seq;
            CREATE TABLE config_versions (
                id BIGSERIAL PRIMARY KEY,
                version INTEGER NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL,
                author TEXT NOT NULL,
                outcome TEXT NOT NULL,
                source TEXT NOT NULL,
                changes TEXT NOT NULL,
                origin TEXT
            );
            CREATE UNIQUE INDEX config_versions_version ON config_versions(version) WHERE version > 0;
            CREATE TABLE balancer_instances (
                id TEXT PRIMARY KEY, admin TEXT NOT NULL, version INTEGER NOT NULL, config_hash TEXT NOT NULL,
                seen_at TIMESTAMPTZ NOT NULL, note TEXT
            )
            """),
    ]

    package func migrate() async throws {
        try await database.migrate("config", Self.migrations)
    }

    package func reserveVersion() async throws -> Int {
        try await database.run { client in
            var version = 0
            for try await value in try await client.query("SELECT nextval('config_version_seq')::int").decode(Int.self) { version = value }
            return version
        }
    }

    package func record(_ entry: ConfigVersion) async throws {
        let changes = String(decoding: try JSONEncoder().encode(entry.changes), as: UTF8.self)
        let channel = self.channel
        let logger = self.logger
        try await database.transaction { connection in
            try await connection.query("""
                INSERT INTO config_versions (version, applied_at, author, outcome, source, changes, origin)
                VALUES (\(entry.version), \(entry.appliedAt), \(entry.author), \(entry.outcome), \(entry.source), \(changes), \(entry.origin))
                """, logger: logger)
            if entry.isApplied {
                try await connection.query("SELECT pg_notify(\(channel), \(String(entry.version)))", logger: logger)
            }
        }
    }

    private static let columns = "version, applied_at, author, outcome, source, changes, origin"

    private static func entries(_ rows: PostgresRowSequence) async throws -> [ConfigVersion] {
        var entries: [ConfigVersion] = []
        for try await (version, at, author, outcome, source, changes, origin) in rows.decode((Int, Date, String, String, String, String, String?).self) {
            entries.append(ConfigVersion(version: version, appliedAt: at, author: author, outcome: outcome, source: source,
                                         changes: (try? JSONDecoder().decode([String].self, from: Data(changes.utf8))) ?? [], origin: origin))
        }
        return entries
    }

    package func history(limit: Int) async throws -> [ConfigVersion] {
        try await database.run { client in
            try await Self.entries(client.query(PostgresQuery(
                unsafeSQL: "SELECT \(Self.columns) FROM config_versions ORDER BY id DESC LIMIT \(max(0, limit))"))).reversed()
        }
    }

    package func latestApplied() async throws -> ConfigVersion? {
        try await database.run { client in
            try await Self.entries(client.query(PostgresQuery(
                unsafeSQL: "SELECT \(Self.columns) FROM config_versions WHERE outcome = 'applied' ORDER BY version DESC LIMIT 1"))).first
        }
    }

    package func report(_ instance: BalancerInstance) async throws {
        try await database.execute("""
            INSERT INTO balancer_instances (id, admin, version, config_hash, seen_at, note)
            VALUES (\(instance.id), \(instance.admin), \(instance.version), \(instance.configHash), \(instance.seenAt), \(instance.note))
            ON CONFLICT (id) DO UPDATE SET admin = excluded.admin, version = excluded.version, config_hash = excluded.config_hash,
                seen_at = excluded.seen_at, note = excluded.note
            """)
    }

    package func instances(within: TimeInterval) async throws -> [BalancerInstance] {
        let since = Date().addingTimeInterval(-within)
        return try await database.run { client in
            var instances: [BalancerInstance] = []
            let rows = try await client.query(
                "SELECT id, admin, version, config_hash, seen_at, note FROM balancer_instances WHERE seen_at >= \(since) ORDER BY id")
            for try await (id, admin, version, hash, seen, note) in rows.decode((String, String, Int, String, Date, String?).self) {
                instances.append(BalancerInstance(id: id, admin: admin, version: version, configHash: hash, seenAt: seen, note: note))
            }
            return instances
        }
    }

    /// LISTENs on one pooled connection; when it is lost, listens again after a second and
    /// yields 0 ("you may have missed something: catch up").
    package func notifications() -> AsyncStream<Int> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let client = database.client
        let channel = self.channel
        let logger = self.logger
        let task = Task {
            var first = true
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: channel) { notifications in
                            if !first { continuation.yield(0) }
                            first = false
                            for try await notification in notifications {
                                continuation.yield(Int(notification.payload) ?? 0)
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("LISTEN \(channel) lost; listening again", metadata: ["error": "\(String(reflecting: error).prefix(200))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
