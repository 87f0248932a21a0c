import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A PostgreSQL database shared by every replica and balancer of a stack: one `PostgresClient`
/// (a connection pool that reconnects by itself), its background task, versioned migrations and
/// the rule that a database which does not answer in time is *unavailable*, not slow.
///
/// Once the database is known to be away (`Reachability`), operations fail at once instead of
/// each waiting out `operationTimeout`: an operation that lost its connection or has waited a
/// second without an answer starts a probe (a connection of its own, outside the pool); a probe
/// refused or closed, or two unanswered in a row, is the verdict, which ends every operation
/// still waiting; a probe every `probeInterval` finds it back. Then the pool is
/// replaced by a fresh one, so recovery does not wait out the old pool's reconnect back-off
/// (up to a minute after a long outage).
package final class SharedDatabase: Sendable {
    package var client: PostgresClient { pool.withLock { $0.client } }
    package let url: PostgresURL
    /// The most one operation may wait for a connection and its answer.
    package let operationTimeout: Duration
    /// An operation still unanswered after this has the database probed.
    package let suspectAfter: Duration
    /// How long a probe may take before it counts as unanswered.
    package let probeTimeout: Duration
    let logger: Logger
    private let pool: Mutex<Pool>
    private let reachability: Mutex<Reachability>
    private let prober = Mutex<Task<Void, Never>?>(nil)

    private struct Pool: Sendable {
        let client: PostgresClient
        let runner: Task<Void, Never>
    }

    package init(url: PostgresURL, operationTimeout: Duration = .seconds(3), probeInterval: Duration = .seconds(1),
                suspectAfter: Duration = .seconds(1), probeTimeout: Duration? = nil,
                logger: Logger = Logger(label: "ballast.postgres")) {
        self.probeTimeout = probeTimeout ?? min(operationTimeout, .seconds(3))
        self.reachability = Mutex(Reachability(probeIntervalNanos: Self.nanos(probeInterval)))
        self.url = url
        self.operationTimeout = operationTimeout
        self.suspectAfter = min(suspectAfter, operationTimeout)
        self.logger = logger
        self.pool = Mutex(Self.makePool(url: url, operationTimeout: operationTimeout, logger: logger))
    }

    private static func makePool(url: PostgresURL, operationTimeout: Duration, logger: Logger) -> Pool {
        var configuration = PostgresClient.Configuration(host: url.host, port: url.port, username: url.username,
                                                         password: url.password, database: url.database, tls: url.clientTLS)
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.maximumConnections = url.maximumConnections
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(5))
        // The server gives up on a statement (a held lock, a slow disk) before the client stops
        // waiting, so a statement answered "unavailable" is rolled back, never committed later.
        let serverLimit = max(operationTimeout - .milliseconds(500), .milliseconds(100))
        configuration.options.additionalStartupParameters = [("statement_timeout", "\(nanos(serverLimit) / 1_000_000)ms")]
        if let schema = url.schema {
            configuration.options.additionalStartupParameters.append(("search_path", schema))
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return Pool(client: client, runner: Task { await client.run() })
    }

    /// Stops the pool; queries after this fail.
    package func close() {
        pool.withLock { $0.runner.cancel() }
        prober.withLock { $0?.cancel() }
    }

    deinit {
        pool.withLock { $0.runner.cancel() }
        prober.withLock { $0?.cancel() }
    }

    /// Why the database is known to be away, or nil while it is not.
    package var unreachableReason: String? {
        if case .unreachable(_, let reason) = reachability.withLock({ $0.state }) { return reason }
        return nil
    }

    /// Runs `body` within `operationTimeout`; a timeout or a lost connection is `StorageUnavailable`.
    /// While the database is known unreachable, fails at once without trying.
    @discardableResult
    package func run<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        if let reason = unreachableReason { throw away(reason) }
        do {
            let value = try await attempt(timeout: timeout, body)
            reachability.withLock { $0.answered() }
            return value
        } catch let error as StorageUnavailable {
            if error.failure != nil { noteFailure() }
            throw error
        }
    }

    private func away(_ reason: String) -> StorageUnavailable {
        StorageUnavailable(reason: "PostgreSQL at \(url.redacted) is unreachable (\(reason)); answering at once until a probe reconnects")
    }

    /// What an operation saw makes the database suspect; a probe decides.
    private func noteFailure() {
        if reachability.withLock({ $0.operationFailed() }) { startProber() }
    }

    private func startProber() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                guard let self else { return }
                var reason = ""
                var answered = true
                var failure = Reachability.Failure.timeout
                do { try await self.probe() } catch {
                    answered = false
                    if let words = self.url.describeTLSFailure(error) {
                        // The certificate, the name or the server's TLS: a setting to fix, not an outage.
                        reason = words
                        failure = .connection
                    } else if let error = error as? PSQLError {
                        reason = "\(error.code)"
                        failure = (Self.mapped(error, url: self.url) as? StorageUnavailable)?.failure ?? .timeout
                    } else if let error = error as? StorageUnavailable {
                        reason = error.reason
                        failure = error.failure ?? .timeout
                    } else {
                        // A refused or reset connect comes as a channel error.
                        reason = "\(error)"
                        failure = .connection
                    }
                }
                let now = Self.nanosNow()
                let (again, wasAway) = self.reachability.withLock { state -> (Bool, Bool) in
                    let away = !state.admits
                    return (state.probeEnded(answered: answered, failure: failure, reason: reason, now: now), away)
                }
                if answered, wasAway {
                    // The old pool may be backing off for up to a minute before it reconnects.
                    let fresh = Self.makePool(url: self.url, operationTimeout: self.operationTimeout, logger: self.logger)
                    let old = self.pool.withLock { pool in
                        defer { pool = fresh }
                        return pool
                    }
                    old.runner.cancel()
                    self.logger.info("PostgreSQL answers again; reconnected")
                }
                if !answered, !wasAway, self.unreachableReason != nil {
                    self.logger.error("PostgreSQL unreachable; answering at once until a probe reconnects", metadata: ["reason": "\(reason)"])
                }
                guard again else { return }
                try? await Task.sleep(for: .nanoseconds(self.reachability.withLock { $0.probeIntervalNanos }))
            }
        }
        prober.withLock { $0 = task }
    }

    /// One connection of its own (not from the pool, which may be backing off) and `SELECT 1`,
    /// within `probeTimeout`.
    private func probe() async throws {
        let url = self.url, logger = self.logger
        let limit = probeTimeout
        let answered = try await race({
            let connection = try await url.connectOnce(timeout: limit, logger: logger)
            defer { Task { try? await connection.close() } }
            for try await _ in try await connection.query("SELECT 1", logger: logger) {}
            return true
        }, against: {
            try await Task.sleep(for: limit)
            return false
        })
        guard answered else { throw StorageUnavailable(reason: "no answer to a probe within \(limit)", failure: .timeout) }
    }

    static func nanosNow() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds) }

    static func nanos(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    /// `body` on the current pool, ended by the first of: its answer, `timeout`, or the database
    /// found away meanwhile. Waiting past `suspectAfter` has the database probed.
    private func attempt<T: Sendable>(timeout: Duration?, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = self.client
        let timeout = timeout ?? operationTimeout
        let started = ContinuousClock.now
        do {
            let answer: T? = try await race({ try await body(client) }, against: {
                var suspected = false
                while true {
                    let waited = ContinuousClock.now - started
                    if waited >= timeout { return nil }
                    if let reason = self.unreachableReason { throw self.away(reason) }
                    if !suspected, waited >= self.suspectAfter {
                        suspected = true
                        self.noteFailure()
                    }
                    try await Task.sleep(for: min(timeout - waited, .milliseconds(100)))
                }
            })
            guard let answer else {
                throw StorageUnavailable(reason: "PostgreSQL at \(url.redacted) did not answer within \(timeout)", failure: .timeout)
            }
            return answer
        } catch let error as PSQLError {
            throw Self.mapped(error, url: url)
        }
    }

    /// Runs one statement and reads its rows to the end (so the connection is free again).
    package func execute(_ query: PostgresQuery) async throws {
        try await run { client in
            for try await _ in try await client.query(query) {}
        }
    }

    /// Runs `body` in one transaction within `operationTimeout`: all of it is written or none.
    package func transaction<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
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
                // The server answered a statement it gave up on: slow, not away.
                // 53 (too many connections, disk full) is a server answering: slow or full, not away.
                let away = state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
                return StorageUnavailable(reason: "PostgreSQL at \(url.redacted): \(error.serverInfo?[.message] ?? state)",
                                          failure: away ? .connection : nil)
            }
            return error
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .sslUnsupported, .failedToAddSSLHandler:
            return StorageUnavailable(reason: "PostgreSQL at \(url.redacted): \(error.code)", failure: .connection)
        case .queryCancelled:
            return StorageUnavailable(reason: "PostgreSQL at \(url.redacted): \(error.code)")
        default:
            return error
        }
    }

    /// True when `error` is the server refusing a duplicate key (SQLSTATE 23505).
    package static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }

    /// Applies `migrations` (id, SQL) in order, each once, in its own transaction, under an
    /// advisory lock so replicas starting together do not race to create the schema. A schema
    /// takes a dozen statements: it gets `migrationTimeout`, not the few seconds of a request's
    /// query, so a replica starting against a busy database does not give up on it.
    package func migrate(_ component: String, _ migrations: [(id: String, sql: String)]) async throws {
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
    package func ping() async throws {
        try await run { client in
            for try await _ in try await client.query("SELECT 1") {}
        }
    }

    package static let migrationTimeout: Duration = .seconds(30)

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The shared database could not be used in time; nothing was written. Callers answer 503 (auth)
/// or keep their current state and retry (balancers).
package struct StorageUnavailable: Error, CustomStringConvertible, Sendable {
    package var reason: String
    /// Whether this says the database is away (`Reachability`), or only that it was slow.
    package var failure: Reachability.Failure?
    package init(reason: String, failure: Reachability.Failure? = nil) {
        self.reason = reason
        self.failure = failure
    }
    package var description: String { reason }
}
