import BallastStorage
import Foundation

/// Opens the store a database URL names: `sqlite:PATH` (embedded) or `postgres://…` (shared).
package enum AuthStores {
    package struct Unsupported: Error, CustomStringConvertible {
        package var description: String
    }

    package static func open(_ url: String) throws -> any AuthStore {
        if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            guard !path.isEmpty else { throw Unsupported(description: "write sqlite:PATH, e.g. sqlite:./ballast-data/auth.sqlite") }
            return try SQLiteAuthStore(path: path)
        }
        if PostgresURL.isPostgres(url) {
            return PostgresAuthStore(url: try PostgresURL(url))
        }
        throw Unsupported(description: "unknown database URL; use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    }
}
