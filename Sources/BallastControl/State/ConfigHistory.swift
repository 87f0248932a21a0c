import BallastAPI
import BallastConfig
import Foundation

/// Every config version the balancer has run, newest last, with who applied it and how it went,
/// kept in a `ConfigVersionStore` (memory, the stack's SQLite file, or PostgreSQL shared by
/// every balancer). Version numbers come from the store, so they agree across balancers.
package struct ConfigHistory: Sendable {
    package typealias Entry = ConfigVersion

    package let store: any ConfigVersionStore
    /// This balancer instance, written as each version's origin.
    package let instance: String

    package init(store: any ConfigVersionStore = MemoryConfigVersionStore(), instance: String = "local") {
        self.store = store
        self.instance = instance
    }

    /// A new version number, taken before the version is applied; always above `current`, the
    /// version in force (a balancer whose first version was never stored still counts up).
    package func reserve(after current: Int) async throws -> Int {
        max(try await store.reserveVersion(), current + 1)
    }

    package func record(version: Int, author: String, outcome: String, source: String, changes: [ConfigDiff.Change] = []) async throws {
        let lines = changes.map { change in
            "\(change.subject): \(change.description)" + (change.blastRadius.map { " (blast radius: \($0))" } ?? "")
        }
        try await store.record(ConfigVersion(version: version, author: author, outcome: outcome, source: source,
                                             changes: lines, origin: instance))
    }

    /// The newest thousand entries, oldest first.
    package func all() async throws -> [Entry] { try await store.history(limit: 1000) }

    /// The newest applied version before `version`, the target of a rollback.
    package func previousApplied(before version: Int) async throws -> Entry? {
        try await all().last { $0.version < version && $0.isApplied }
    }
}
