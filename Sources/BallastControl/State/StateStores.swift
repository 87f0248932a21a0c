import BallastAPI
import BallastConfig
import BallastStorage
import Foundation

/// The stores a balancer keeps its state in, opened from one URL: nothing (memory),
/// `sqlite:PATH` (one host), or `postgres://…` (shared by every balancer).
package struct StateStores: Sendable {
    package var timeline: any TimelineStore
    package var versions: any ConfigVersionStore
    /// The URL without its password.
    package var description: String
    /// True when other balancers may share it, so its newest version outranks a local file.
    package var shared: Bool

    package struct Unsupported: Error, CustomStringConvertible {
        package var description: String
    }

    /// `url` with any password replaced, for error messages.
    package static func redact(_ url: String) -> String {
        (try? PostgresURL(url))?.redacted ?? (PostgresURL.isPostgres(url) ? "postgres://…" : url)
    }

    package static func open(_ url: String?) async throws -> StateStores {
        guard let url else {
            return StateStores(timeline: MemoryTimelineStore(), versions: MemoryConfigVersionStore(), description: "memory", shared: false)
        }
        if url.hasPrefix("sqlite:"), url.count > 7 {
            let path = String(url.dropFirst(7))
            let versions = try SQLiteConfigVersionStore(path: path)
            try await versions.migrate()
            return StateStores(timeline: try SQLiteTimelineStore(path: path), versions: versions, description: url, shared: false)
        }
        if PostgresURL.isPostgres(url) {
            let database = SharedDatabase(url: try PostgresURL(url))
            let timeline = PostgresTimelineStore(database: database)
            let versions = PostgresConfigVersionStore(database: database)
            try await timeline.migrate()
            try await versions.migrate()
            return StateStores(timeline: timeline, versions: versions, description: database.url.redacted, shared: true)
        }
        throw Unsupported(description: "write sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    }
}

/// Which config and version number a balancer starts with.
package struct StartupConfig: Sendable {
    package var loaded: ConfigLoader.Loaded
    package var version: Int
    /// What a human should know (the file was not used, or the shared version was refused).
    package var notes: [String]

    /// With shared state, the newest applied version outranks the file (the file only seeds an
    /// empty store), so a balancer restarted with an old file cannot roll every other one back.
    /// On one host the file wins: it is recorded as a new version when it differs from the newest.
    package static func decide(file: ConfigLoader.Loaded, path: String, history: ConfigHistory, shared: Bool) async throws -> StartupConfig {
        let latest = try await history.store.latestApplied()
        if let latest, latest.source == file.config.sourceText {
            return StartupConfig(loaded: file, version: latest.version, notes: [])
        }
        if shared, let latest {
            switch ConfigApplier.validate(latest.source, file: "<v\(latest.version)>", baseDirectory: file.config.baseDirectory) {
            case .success(let loaded):
                return StartupConfig(loaded: loaded, version: latest.version, notes: [
                    "\(path) differs from the shared config v\(latest.version) (applied by \(latest.author)); running v\(latest.version). "
                        + "Apply a change through any balancer's admin API to change every balancer."])
            case .failure(let error):
                let first = error.findings.first { $0.severity == .error }?.description ?? "invalid"
                return StartupConfig(loaded: file, version: 0, notes: [
                    "the shared config v\(latest.version) does not validate on this host (\(first)); running \(path) unshared as v0"])
            }
        }
        let version = try await history.reserve(after: latest?.version ?? 0)
        try await history.record(version: version, author: "ballast --config \(path)", outcome: "applied", source: file.config.sourceText,
                                 changes: latest.flatMap { previous in
                                     (try? ConfigLoader.load(text: previous.source, file: "<v\(previous.version)>", baseDirectory: file.config.baseDirectory).get())
                                         .map { ConfigDiff(old: $0.config, new: file.config).changes }
                                 } ?? [])
        return StartupConfig(loaded: file, version: version, notes: [])
    }
}
