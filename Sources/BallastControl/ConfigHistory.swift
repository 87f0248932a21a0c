import BallastConfig
import Foundation

/// Every config version the balancer has run, newest last, with who applied it and how it went.
public actor ConfigHistory {
    public struct Entry: Sendable, Codable {
        public var version: Int
        public var appliedAt: Date
        public var author: String
        public var outcome: String
        public var source: String
        /// What the version changed, in `ballast diff`'s words.
        public var changes: [String]
    }

    private(set) var entries: [Entry] = []

    public init() {}

    public func record(version: Int, author: String, outcome: String, source: String, changes: [ConfigDiff.Change] = []) {
        let lines = changes.map { change in
            "\(change.subject): \(change.description)" + (change.blastRadius.map { " (blast radius: \($0))" } ?? "")
        }
        entries.append(Entry(version: version, appliedAt: Date(), author: author, outcome: outcome, source: source, changes: lines))
    }

    public func all() -> [Entry] { entries }

    /// The newest applied version before `version`, the target of a rollback.
    public func previousApplied(before version: Int) -> Entry? {
        entries.last { $0.version < version && $0.outcome == "applied" }
    }
}
