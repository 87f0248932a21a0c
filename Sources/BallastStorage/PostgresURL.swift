import Foundation

/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME&pool=N`, as libpq spells it.
/// `schema` keeps Ballast's tables in their own schema (tests use one per case); `pool` caps
/// the connections this process opens (default 10). The password never appears in logs.
package struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var username: String
    package var password: String?
    package var database: String
    package var schema: String?
    package var maximumConnections: Int

    package struct Invalid: Error, CustomStringConvertible {
        package var description: String
    }

    package static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    package init(_ text: String) throws {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw Invalid(description: "write postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "the URL names no host") }
        guard let user = components.user, !user.isEmpty else { throw Invalid(description: "the URL names no user") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw Invalid(description: "the URL names no database (postgres://…/DATABASE)") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "port \(port) is out of range") }
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.maximumConnections = 10
        for item in components.queryItems ?? [] {
            switch item.name {
            case "schema":
                guard let value = item.value, !value.isEmpty, value.count <= 63,
                      value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw Invalid(description: "schema must be 1-63 letters, digits or underscores")
                }
                schema = value
            case "pool":
                guard let value = item.value.flatMap(Int.init), (1...200).contains(value) else {
                    throw Invalid(description: "pool must be a number of connections from 1 to 200")
                }
                maximumConnections = value
            case "sslmode" where item.value == "disable":
                break
            default:
                throw Invalid(description: "unknown URL parameter '\(item.name)' (known: schema, pool, sslmode=disable)")
            }
        }
    }

    /// The URL without its password, for logs and status pages.
    package var redacted: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
            + (schema.map { "?schema=\($0)" } ?? "")
    }

    package var description: String { redacted }
}
