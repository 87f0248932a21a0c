import BallastAPI
import Foundation


/// A balancer instance as the shared state knows it: which version it runs, and when it last said so.
package struct BalancerInstance: Sendable, Codable, Equatable {
    package var id: String
    package var admin: String
    package var version: Int
    /// The sha256 of the YAML it runs.
    package var configHash: String
    package var seenAt: Date
    /// Why it does not run the newest applied version, when it does not.
    package var note: String?

    package init(id: String, admin: String, version: Int, configHash: String, seenAt: Date = Date(), note: String? = nil) {
        self.id = id
        self.admin = admin
        self.version = version
        self.configHash = configHash
        self.seenAt = seenAt
        self.note = note
    }
}

/// Where config versions live: in memory (a lone `ballast lb`), in the stack's SQLite file
/// (`ballast up`, `--state sqlite:`), or in PostgreSQL shared by every balancer (`--state postgres://`),
/// which also tells each balancer when another one stored a version.
package protocol ConfigVersionStore: Sendable {
    /// Creates or upgrades the schema.
    func migrate() async throws
    /// A version number no balancer has used, taken before the version is applied.
    func reserveVersion() async throws -> Int
    /// Stores `entry`; for an applied version every other balancer is told.
    func record(_ entry: ConfigVersion) async throws
    /// The newest `limit` entries, oldest first.
    func history(limit: Int) async throws -> [ConfigVersion]
    /// The newest applied version, if any.
    func latestApplied() async throws -> ConfigVersion?
    /// Says which version `instance` runs (a heartbeat).
    func report(_ instance: BalancerInstance) async throws
    /// Every balancer that reported within `within` seconds.
    func instances(within: TimeInterval) async throws -> [BalancerInstance]
    /// Version numbers other balancers stored, as they are stored; ends when the store closes.
    /// A store without notifications yields nothing (callers also poll).
    func notifications() -> AsyncStream<Int>
}

/// A version number is stored once (SQLite and PostgreSQL enforce it with a unique index).
package struct DuplicateVersion: Error, CustomStringConvertible {
    package var version: Int
    package var description: String { "config version \(version) is already stored" }
}

/// Config versions of a balancer that shares nothing: kept in memory, lost at exit.
package actor MemoryConfigVersionStore: ConfigVersionStore {
    private var entries: [ConfigVersion] = []
    private var next = 1
    private var reported: [String: BalancerInstance] = [:]

    package init() {}

    package func migrate() {}

    package func reserveVersion() -> Int {
        defer { next += 1 }
        return next
    }

    package func record(_ entry: ConfigVersion) throws {
        if entry.version > 0, entries.contains(where: { $0.version == entry.version }) {
            throw DuplicateVersion(version: entry.version)
        }
        entries.append(entry)
        next = max(next, entry.version + 1)
    }

    package func history(limit: Int) -> [ConfigVersion] { Array(entries.suffix(limit)) }

    package func latestApplied() -> ConfigVersion? { entries.last { $0.isApplied } }

    package func report(_ instance: BalancerInstance) { reported[instance.id] = instance }

    package func instances(within: TimeInterval) -> [BalancerInstance] {
        let since = Date().addingTimeInterval(-within)
        return reported.values.filter { $0.seenAt >= since }.sorted { $0.id < $1.id }
    }

    package nonisolated func notifications() -> AsyncStream<Int> { AsyncStream { $0.finish() } }
}
