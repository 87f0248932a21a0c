import BallastAPI
import Foundation
import GRDB

/// Config versions in the stack's SQLite file, so `ballast up` keeps its history across restarts
/// and version numbers continue.
package final class SQLiteConfigVersionStore: ConfigVersionStore {
    private let pool: DatabasePool

    package init(path: String) throws {
        pool = try openSQLitePool(path: path, busyTimeout: 2)
    }

    package func migrate() async throws {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("config-versions-v1") { db in
            try db.execute(sql: """
                CREATE TABLE config_versions (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    version INTEGER NOT NULL,
                    applied_at REAL NOT NULL,
                    author TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    source TEXT NOT NULL,
                    changes TEXT NOT NULL,
                    origin TEXT
                );
                CREATE UNIQUE INDEX config_versions_version ON config_versions(version) WHERE version > 0;
                CREATE TABLE config_version_counter (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
                INSERT INTO config_version_counter (id, next) VALUES (1, 1);
                CREATE TABLE balancer_instances (
                    id TEXT PRIMARY KEY, admin TEXT NOT NULL, version INTEGER NOT NULL, config_hash TEXT NOT NULL,
                    seen_at REAL NOT NULL, note TEXT
                );
                """)
        }
        try migrator.migrate(pool)
    }

    package func reserveVersion() async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE config_version_counter SET next = next + 1 WHERE id = 1")
            return try Int.fetchOne(db, sql: "SELECT next - 1 FROM config_version_counter WHERE id = 1") ?? 1
        }
    }

    package func record(_ entry: ConfigVersion) async throws {
        let changes = String(decoding: try JSONEncoder().encode(entry.changes), as: UTF8.self)
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO config_versions (version, applied_at, author, outcome, source, changes, origin) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [entry.version, entry.appliedAt.timeIntervalSince1970, entry.author, entry.outcome, entry.source,
                                 changes, entry.origin])
            try db.execute(sql: "UPDATE config_version_counter SET next = max(next, ?) WHERE id = 1", arguments: [entry.version + 1])
        }
    }

    private static func entry(_ row: Row) -> ConfigVersion {
        let changes: String = row["changes"]
        return ConfigVersion(version: row["version"], appliedAt: Date(timeIntervalSince1970: row["applied_at"]), author: row["author"],
                             outcome: row["outcome"], source: row["source"],
                             changes: (try? JSONDecoder().decode([String].self, from: Data(changes.utf8))) ?? [], origin: row["origin"])
    }

    package func history(limit: Int) async throws -> [ConfigVersion] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM config_versions ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.entry).reversed()
        }
    }

    package func latestApplied() async throws -> ConfigVersion? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM config_versions WHERE outcome = 'applied' ORDER BY version DESC LIMIT 1").map(Self.entry)
        }
    }

    package func report(_ instance: BalancerInstance) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO balancer_instances (id, admin, version, config_hash, seen_at, note) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [instance.id, instance.admin, instance.version, instance.configHash,
                                       instance.seenAt.timeIntervalSince1970, instance.note])
        }
    }

    package func instances(within: TimeInterval) async throws -> [BalancerInstance] {
        let since = Date().addingTimeInterval(-within).timeIntervalSince1970
        return try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM balancer_instances WHERE seen_at >= ? ORDER BY id", arguments: [since]).map { row in
                BalancerInstance(id: row["id"], admin: row["admin"], version: row["version"], configHash: row["config_hash"],
                                 seenAt: Date(timeIntervalSince1970: row["seen_at"]), note: row["note"])
            }
        }
    }

    package func notifications() -> AsyncStream<Int> { AsyncStream { $0.finish() } }
}
