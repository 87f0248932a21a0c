import Foundation
import Logging
import PostgresNIO

/// A PostgreSQL database shared by every replica and balancer of a stack: one `PostgresClient`
/// (a connection pool that reconnects by itself), its background task, versioned migrations and
/// the rule that a database which does not answer in time is *unavailable*, not slow.
public final class SharedDatabase: Sendable {
    public let client: PostgresClient
    public let url: PostgresURL
    /// The most one operation may wait for a connection and its answer.
    public let operationTimeout: Duration
    let logger: Logger
    private let runner: Task<Void, Never>

    public init(url: PostgresURL, operationTimeout: Duration = .seconds(3), logger: Logger = Logger(label: "ballast.postgres")) {
        self.url = url
        self.operationTimeout = operationTimeout
        self.logger = logger
        var configuration = PostgresClient.Configuration(host: url.host, port: url.port, username: url.username,
                                                         password: url.password, database: url.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.maximumConnections = url.maximumConnections
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(5))
        // The server gives up on a statement (a held lock, a slow disk) before the client stops
        // waiting, so a statement answered "unavailable" is rolled back, never committed later.
        let serverLimit = max(operationTimeout - .milliseconds(500), .milliseconds(100))
        configuration.options.additionalStartupParameters = [("statement_timeout", "\(serverLimit.components.seconds * 1000 + serverLimit.components.attoseconds / 1_000_000_000_000_000)ms")]
        if let schema = url.schema {
            configuration.options.additionalStartupParameters.append(("search_path", schema))
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    /// Stops the pool; queries after this fail.
    public func close() { runner.cancel() }

    deinit { runner.cancel() }

    /// Runs `body` within `operationTimeout`; a timeout or a lost connection is `StorageUnavailable`.
    @discardableResult
    public func run<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = self.client
        let timeout = timeout ?? operationTimeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body(client) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else {
                    throw StorageUnavailable(reason: "PostgreSQL at \(url.redacted) did not answer within \(timeout)")
                }
                return value
            }
        } catch let error as PSQLError {
            throw Self.mapped(error, url: url)
        }
    }

    /// Runs one statement and reads its rows to the end (so the connection is free again).
    public func execute(_ query: PostgresQuery) async throws {
        try await run { client in
            for try await _ in try await client.query(query) {}
        }
    }

    /// Runs `body` in one transaction within `operationTimeout`: all of it is written or none.
    public func transaction<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await run(timeout: timeout) { client in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return value
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// A lost connection, a server shutting down or an unreachable host is `StorageUnavailable`;
    /// an error the server reports about the statement itself stays as it is.
    static func mapped(_ error: PSQLError, url: PostgresURL) -> any Error {
        switch error.code {
        case .server:
            // 08 connection exceptions, 53 insufficient resources (disk full, too many connections),
            // 57 statement cancelled by statement_timeout or an administrator, 55P03 lock not available.
            let state = error.serverInfo?[.sqlState] ?? ""
            if state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57") || state == "55P03" {
                return StorageUnavailable(reason: "PostgreSQL at \(url.redacted): \(error.serverInfo?[.message] ?? state)")
            }
            return error
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .sslUnsupported, .failedToAddSSLHandler, .queryCancelled:
            return StorageUnavailable(reason: "PostgreSQL at \(url.redacted): \(error.code)")
        default:
            return error
        }
    }

    /// True when `error` is the server refusing a duplicate key (SQLSTATE 23505).
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }

    /// Applies `migrations` (id, SQL) in order, each once, in its own transaction, under an
    /// advisory lock so replicas starting together do not race to create the schema. A schema
    /// takes a dozen statements: it gets `migrationTimeout`, not the few seconds of a request's
    /// query, so a replica starting against a busy database does not give up on it.
    public func migrate(_ component: String, _ migrations: [(id: String, sql: String)]) async throws {
        let schema = url.schema
        try await transaction(timeout: Self.migrationTimeout) { connection in
            let lockKey = "ballast-migrations:\(schema ?? "public")"
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\(lockKey)))", logger: self.logger)
            if let schema {
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(Self.quoted(schema))"), logger: self.logger)
            }
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS ballast_migrations (
                    component TEXT NOT NULL, id TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    PRIMARY KEY (component, id))
                """, logger: self.logger)
            var applied = Set<String>()
            for try await id in try await connection.query("SELECT id FROM ballast_migrations WHERE component = \(component)",
                                                           logger: self.logger).decode(String.self) {
                applied.insert(id)
            }
            for migration in migrations where !applied.contains(migration.id) {
                for statement in migration.sql.components(separatedBy: ";\n") where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query("INSERT INTO ballast_migrations (component, id) VALUES (\(component), \(migration.id))",
                                           logger: self.logger)
            }
        }
    }

    /// Throws `StorageUnavailable` when the database does not answer (readiness).
    public func ping() async throws {
        try await run { client in
            for try await _ in try await client.query("SELECT 1") {}
        }
    }

    public static let migrationTimeout: Duration = .seconds(30)

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The shared database could not be used in time; nothing was written. Callers answer 503 (auth)
/// or keep their current state and retry (balancers).
public struct StorageUnavailable: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
