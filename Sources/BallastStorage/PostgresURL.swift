import Foundation

/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?schema=NAME&pool=N&sslmode=MODE&sslrootcert=FILE`,
/// as libpq spells it. `schema` keeps Ballast's tables in their own schema (tests use one per
/// case); `pool` caps the connections this process opens (default 10); `sslmode` and
/// `sslrootcert` mean what they mean to libpq (`SSLMode`). The password never appears in logs.
package struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var username: String
    package var password: String?
    package var database: String
    package var schema: String?
    package var maximumConnections: Int
    package var sslMode: SSLMode = .prefer
    /// The CA certificates (PEM) the server's certificate is verified against; without it, the
    /// system's roots.
    package var sslRootCert: String?

    /// libpq's `sslmode`: `disable` never encrypts; `prefer` (the default, as libpq's) encrypts
    /// when the server offers it, verifying nothing; `require` always encrypts and verifies
    /// nothing, unless `sslrootcert` is given (then it is `verify-ca`, as libpq does);
    /// `verify-ca` checks the certificate's issuer; `verify-full` the issuer and the host name.
    /// Only the last two stop someone on the path from reading passwords and inserting sessions.
    package enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

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
            case "sslmode":
                guard let value = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw Invalid(description: "sslmode must be one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", ")) (libpq's `allow` is not supported)")
                }
                sslMode = value
            case "sslrootcert":
                guard let value = item.value?.removingPercentEncoding, !value.isEmpty else {
                    throw Invalid(description: "sslrootcert must name a PEM file of CA certificates")
                }
                guard FileManager.default.isReadableFile(atPath: value) else {
                    throw Invalid(description: "sslrootcert \(value) does not exist or cannot be read")
                }
                sslRootCert = value
            default:
                throw Invalid(description: "unknown URL parameter '\(item.name)' (known: schema, pool, sslmode, sslrootcert)")
            }
        }
        if sslRootCert != nil, sslMode == .require { sslMode = .verifyCA }
        if sslRootCert != nil, sslMode == .disable || sslMode == .prefer {
            throw Invalid(description: "sslrootcert is given but sslmode=\(sslMode.rawValue) verifies nothing; write sslmode=verify-full")
        }
    }

    /// The URL without its password, for logs and status pages.
    package var redacted: String {
        let parameters = [schema.map { "schema=\($0)" }, sslMode == .prefer ? nil : "sslmode=\(sslMode.rawValue)"].compactMap { $0 }
        return "postgres://\(username)\(password == nil ? "" : ":***")@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
            + (parameters.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
    }

    package var description: String { redacted }
}
