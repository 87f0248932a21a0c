import BallastAPI
import BallastConfig
import Foundation

/// Every config version the balancer has run, newest last, with who applied it and how it went,
/// kept in a `ConfigVersionStore` (memory, the stack's SQLite file, or PostgreSQL shared by
/// every balancer). Version numbers come from the store, so they agree across balancers.
public struct ConfigHistory: Sendable {
    public typealias Entry = ConfigVersion

    public let store: any ConfigVersionStore
    /// This balancer instance, written as each version's origin.
    public let instance: String

    public init(store: any ConfigVersionStore = MemoryConfigVersionStore(), instance: String = "local") {
        self.store = store
        self.instance = instance
    }

    /// A new version number, taken before the version is applied; always above `current`, the
    /// version in force (a balancer whose first version was never stored still counts up).
    public func reserve(after current: Int) async throws -> Int {
        max(try await store.reserveVersion(), current + 1)
    }

    public func record(version: Int, author: String, outcome: String, source: String, changes: [ConfigDiff.Change] = []) async throws {
        let lines = changes.map { change in
            "\(change.subject): \(change.description)" + (change.blastRadius.map { " (blast radius: \($0))" } ?? "")
        }
        try await store.record(ConfigVersion(version: version, author: author, outcome: outcome, source: source,
                                             changes: lines, origin: instance))
    }

    /// The newest thousand entries, oldest first.
    public func all() async throws -> [Entry] { try await store.history(limit: 1000) }

    /// The newest applied version before `version`, the target of a rollback.
    public func previousApplied(before version: Int) async throws -> Entry? {
        try await all().last { $0.version < version && $0.isApplied }
    }
}
