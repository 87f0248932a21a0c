import BallastConfig
import Foundation
import NIOFoundationCompat
import NIOHTTP1
import GRDB

/// A game day: a fault, what should notice it, and the scores it must make.
package struct Scenario: Sendable {
    package struct Targets: Sendable {
        package var detectSeconds: Double
        package var recoverSeconds: Double
        /// Largest share of failed requests after the fault, in percent; nil when not scored.
        package var failedPercent: Double?
        package var sessionsLost: Int = 0
    }

    package var name: String
    package var summary: String
    package var targets: Targets
    /// What counts as noticing it: `alert:NAME` (any alert with `alert:*`) or `event:KIND`.
    package var detectors: [String]
    /// What should come up (one of `detectors`), and the runbook it should point to.
    package var expected: [String]
    package var runbook: String?
    /// Events after which the stack has restored itself: `event:KIND`, `drill` (the drill's fix
    /// did it), or `stack:healthy` (after the fix, every server passes its health check again).
    package var restoredBy: [String]
    /// The stack's replicas run on PostgreSQL (`DrillRunner.postgres`) instead of SQLite.
    package var needsPostgres = false
    var prepare: @Sendable (DrillStack, DrillContext) async throws -> Void = { _, _ in }
    var inject: @Sendable (DrillStack, DrillContext) async throws -> String
    /// The on-call's fix, done as soon as the fault is detected; nil when Ballast fixes it alone.
    var fix: (@Sendable (DrillStack, DrillContext) async throws -> String)?
}

/// What a scenario keeps between its steps (a held database lock, a proxy, a stopped pid).
final class DrillContext: @unchecked Sendable {
    var proxy: LatencyProxy?
    /// The database outage's stuck transaction, rolled back by the fix.
    var writeLock: SQLiteWriteLock?
    var pid: Int32?
    var server: String?
    /// The PostgreSQL server a scenario that needs one runs the stack on.
    var postgres: String?
    var tasks: [Task<Void, Never>] = []

    /// Rolls `yaml` out past preflight (`apply --force`) without waiting for the outcome.
    func pushForced(_ yaml: String, to stack: DrillStack) {
        tasks.append(Task {
            _ = try? await stack.admin(.POST, "/api/v1/config?rollout=staged&force=true", body: yaml, contentType: "application/yaml")
        })
    }
}

extension Scenario {
    package static let all: [Scenario] = [lbMisconfig, healthCheckMisconfig, replicaCrash, replicaHang, slowServer, databaseOutage, postgresAway]

    package static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }

    /// The seed: the balancer's config is changed to wrong server ports, forced past preflight.
    static let lbMisconfig = Scenario(
        name: "lb-misconfig",
        summary: "The seed's incident: the balancer's config is changed to wrong server ports and forced past preflight",
        targets: Targets(detectSeconds: 5, recoverSeconds: 15, failedPercent: 1),
        detectors: ["event:rollout.rolled_back", "alert:*"], expected: ["event:rollout.rolled_back"],
        runbook: "docs/rollout.md", restoredBy: ["event:rollout.rolled_back"],
        inject: { stack, context in
            let wrong = try FreePorts.take(stack.servers.count).map { "127.0.0.1:\($0)" }
            let yaml = stack.configYAML(servers: wrong)
            context.pushForced(yaml, to: stack)
            return "config pushed with --force: the servers of 'auth' moved to \(wrong.joined(separator: ", ")), where nothing listens"
        })

    /// A wrong health path marks every server down.
    static let healthCheckMisconfig = Scenario(
        name: "health-check-misconfig",
        summary: "A config with a wrong health-check path (every server answers 404 there), forced past preflight",
        targets: Targets(detectSeconds: 10, recoverSeconds: 20, failedPercent: 1),
        detectors: ["event:rollout.rolled_back", "alert:*"], expected: ["event:rollout.rolled_back"],
        runbook: "docs/rollout.md", restoredBy: ["event:rollout.rolled_back"],
        inject: { stack, context in
            let yaml = stack.configYAML(healthPath: "/health")
            context.pushForced(yaml, to: stack)
            return "config pushed with --force: health path /healthz → /health"
        })

    /// kill -9 of one replica; the on-call starts a new one.
    static let replicaCrash = Scenario(
        name: "replica-crash",
        summary: "kill -9 of one auth replica under load; the on-call starts a replacement once it is noticed",
        targets: Targets(detectSeconds: 5, recoverSeconds: 15, failedPercent: 1),
        detectors: ["event:replica.exited", "event:server.down", "event:server.ejected", "alert:*"],
        expected: ["event:server.down", "event:server.ejected"], runbook: "docs/runbooks/upstream-unhealthy.md",
        restoredBy: ["event:server.up", "stack:healthy"],
        inject: { stack, context in
            let server = stack.servers[0]
            let pid = try stack.signalReplica(on: server, SIGKILL)
            context.server = server
            return "kill -9 \(pid) (the auth replica on \(server))"
        },
        fix: { stack, context in
            guard let server = context.server else { return "nothing to restart" }
            try stack.startReplica(on: server)
            return "started a replacement replica on \(server)"
        })

    /// SIGSTOP of one replica: it holds its connections and answers nothing.
    static let replicaHang = Scenario(
        name: "replica-hang",
        summary: "SIGSTOP of one auth replica: connections open, nothing answers; the on-call resumes it once noticed",
        targets: Targets(detectSeconds: 10, recoverSeconds: 20, failedPercent: 5),
        detectors: ["event:server.down", "event:server.ejected", "alert:*"],
        expected: ["event:server.down", "event:server.ejected"], runbook: "docs/runbooks/upstream-unhealthy.md",
        restoredBy: ["event:server.up"],
        inject: { stack, context in
            let server = stack.servers[1]
            let pid = try stack.signalReplica(on: server, SIGSTOP)
            context.pid = pid
            return "kill -STOP \(pid) (the auth replica on \(server))"
        },
        fix: { _, context in
            guard let pid = context.pid else { return "nothing to resume" }
            kill(pid, SIGCONT)
            return "kill -CONT \(pid)"
        })

    /// 800 ms added between the balancer and one server.
    static let slowServer = Scenario(
        name: "slow-server",
        summary: "800 ms of latency injected between the balancer and one server (a Toxiproxy-style proxy); removed once noticed",
        targets: Targets(detectSeconds: 15, recoverSeconds: 30, failedPercent: 1),
        detectors: ["alert:*", "event:server.down", "event:server.ejected"], expected: ["event:server.down", "alert:LatencyHigh"],
        runbook: "docs/runbooks/latency-high.md", restoredBy: ["drill"],
        prepare: { stack, context in
            // The third server is a proxy in front of a replica the drill starts itself, before
            // `up`, so the balancer never sees the proxy without a server behind it.
            let ports = try FreePorts.take(1)
            let real = stack.servers[2]
            let front = "127.0.0.1:\(ports[0])"
            try stack.startReplica(on: real)
            try await stack.waitServing(real, within: .seconds(30))
            let proxy = LatencyProxy(target: "127.0.0.1", port: Int(real.split(separator: ":")[1])!)
            try await proxy.start(host: "127.0.0.1", port: ports[0])
            context.proxy = proxy
            stack.servers[2] = front
            stack.external = [front]
        },
        inject: { stack, context in
            context.proxy?.setLatency(.milliseconds(800))
            return "800 ms of latency on every chunk between the balancer and \(stack.servers[2])"
        },
        fix: { _, context in
            context.proxy?.setLatency(.zero)
            return "latency removed"
        })

    /// The database refuses writes: a stuck transaction holds its write lock.
    static let databaseOutage = Scenario(
        name: "database-outage",
        summary: "The database stops taking writes (a stuck transaction holds SQLite's write lock); released once noticed",
        targets: Targets(detectSeconds: 15, recoverSeconds: 30, failedPercent: nil),
        detectors: ["alert:*"], expected: ["alert:ErrorRateHigh", "alert:ErrorBudgetBurn", "alert:LoginFailuresRising"],
        runbook: nil, restoredBy: ["drill"],
        inject: { stack, context in
            context.writeLock = try SQLiteWriteLock(path: stack.databasePath)
            return "BEGIN IMMEDIATE on \(stack.databasePath), never committed: every write waits out the busy timeout, then fails"
        },
        fix: { _, context in
            context.writeLock?.unlock()
            context.writeLock = nil
            return "the stuck transaction rolled back"
        })

    /// PostgreSQL away under load: the link from every replica to it is cut (connections
    /// closed, new ones refused), then restored once noticed. The replicas must answer 503 at
    /// once rather than each waiting out a timeout, and none may be ejected for it.
    static let postgresAway = Scenario(
        name: "postgres-away",
        summary: "PostgreSQL goes away under load (the link to it is cut); restored once noticed",
        targets: Targets(detectSeconds: 15, recoverSeconds: 15, failedPercent: nil),
        detectors: ["alert:*"], expected: ["alert:ErrorRateHigh", "alert:ErrorBudgetBurn", "alert:LoginFailuresRising"],
        runbook: nil, restoredBy: ["drill"], needsPostgres: true,
        prepare: { stack, context in
            guard let postgres = context.postgres, var url = URLComponents(string: postgres), let host = url.host, let port = url.port else {
                throw DrillError("the PostgreSQL URL is not postgres://USER:PASSWORD@HOST:PORT/DATABASE")
            }
            let proxy = LatencyProxy(target: host, port: port)
            try await proxy.start(host: "127.0.0.1", port: 0)
            context.proxy = proxy
            url.host = "127.0.0.1"
            url.port = proxy.port
            let schema = "drill_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            url.queryItems = (url.queryItems ?? []).filter { $0.name != "schema" } + [URLQueryItem(name: "schema", value: String(schema))]
            stack.database = url.string
        },
        inject: { _, context in
            context.proxy?.setCut(true)
            return "the link to PostgreSQL cut: every connection closed, new ones refused"
        },
        fix: { _, context in
            context.proxy?.setCut(false)
            return "the link to PostgreSQL restored"
        })
}
