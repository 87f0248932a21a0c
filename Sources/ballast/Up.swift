import ArgumentParser
import BallastAuth
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole stack: the load balancer and three auth replicas on one SQLite database.",
        discussion: """
            Without --config, writes the embedded default stack to DATA/ballast.yaml and its runbooks to DATA/runbooks/ \
            (unless they exist) and runs it. \
            The replicas are the loopback servers of the upstream named 'auth', started as separate processes. \
            Ctrl-C drains the balancer and stops every replica.
            """)

    @OptionGroup var logging: LogOptions
    @Option(help: "A config file instead of the embedded defaults.") var config: String?
    @Option(help: "Directory for the database, the config and the replica logs.") var data: String = "ballast-data"
    @Option(help: "Event loops of the balancer.") var threads: Int = System.coreCount
    @Option(help: "bcrypt cost of the replicas.") var bcryptCost: Int = 12
    @Option(help: "A server of 'auth' that something else serves (e.g. a drill's fault proxy); up starts no replica there. Repeatable.")
    var external: [String] = []
    @Option(help: "The replicas' database: a postgres:// URL in a file (mode 0600), instead of the SQLite file in DATA; or set $BALLAST_DATABASE. The timeline and config versions stay in DATA.")
    var databaseFile: String?
    @Option(help: .hidden) var parentPid: Int32?

    func run() async throws {
        let logger = LogSetup.bootstrapOnce(format: logging.logFormat)
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let configPath = config ?? "\(data)/ballast.yaml"
        if config == nil {
            if !FileManager.default.fileExists(atPath: configPath) {
                try (Config.defaultStackYAML + "\n").write(toFile: configPath, atomically: true, encoding: .utf8)
            }
            // The runbooks the written config points at: editable copies of the shipped ones,
            // beside it (a copy already there is the user's and stays as it is).
            let written = try ShippedRunbooks.writeCopies(into: "\(data)/runbooks")
            if !written.isEmpty { say("wrote \(written.count) runbook(s) to \(data)/runbooks/ (edit them for your team)") }
        }
        let loaded = try loadConfigOrExit(configPath, printWarnings: true)
        let replicas = loaded.config.upstream(named: "auth")?.servers.map(\.address)
            .filter { $0.isLoopback && !external.contains($0.description) } ?? []
        guard !replicas.isEmpty else {
            printError("error: \(configPath) has no upstream 'auth' with loopback servers; ballast up starts its replicas there")
            throw ExitCode(2)
        }
        var wanted: [(Address, String)] = loaded.config.listeners.map { ($0.listen, "listener \($0.name)") }
        wanted.append((loaded.config.admin.listen, "the admin API"))
        wanted += replicas.enumerated().map { ($1, "auth replica \($0 + 1)") }
        for (address, role) in wanted where !(await PortCheck.isFree(address)) {
            printError("error: \(address) (\(role)) is already in use; stop what listens there or pass --config with other ports")
            throw ExitCode(2)
        }
        let databasePath = "\(data)/auth.sqlite"
        let database: String
        do {
            database = try SecretURL.resolve(flag: nil, flagName: "--database", file: databaseFile, variable: "BALLAST_DATABASE")
                ?? "sqlite:\(databasePath)"
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        // Migrate once here, so three replicas do not race to create the schema.
        do {
            try await AuthStores.open(database).migrate()
        } catch {
            printError("error: database '\(StateStores.redact(database))': \(error)")
            throw ExitCode(2)
        }
        let stores = try await StateStores.open("sqlite:\(databasePath)")
        let timeline = Timeline(store: stores.timeline)
        let supervisor = ReplicaSupervisor(logger: logger, timeline: timeline)
        do {
            for (index, address) in replicas.enumerated() {
                try supervisor.start(index: index + 1, address: address, database: database,
                                     bcryptCost: bcryptCost, logDirectory: data, logFormat: logging.logFormat,
                                     otlpEndpoint: loaded.config.tracing.endpoint)
            }
            try await supervisor.waitUntilHealthy(replicas, health: loaded.config.upstream(named: "auth")?.health ?? HealthCheck())
        } catch {
            printError("error: \(error)")
            supervisor.stopAll()
            throw ExitCode(1)
        }
        for (index, address) in replicas.enumerated() {
            say("auth replica \(index + 1) on http://\(address) (pid \(supervisor.pid(index + 1) ?? 0), log \(data)/replica-\(index + 1).log)")
        }
        let publicAddress = loaded.config.listeners.first.map { "http://\($0.listen)" } ?? "http://127.0.0.1:8080"
        do {
            var stack = BalancerStack(loaded: loaded, configPath: configPath, threads: threads, drain: .seconds(10), state: stores, timeline: timeline)
            // No stack runs tokenless: without $BALLAST_ADMIN_TOKEN, a token generated on first
            // start (0600), which the CLI run from this directory reads by itself.
            stack.tokenFile = "\(data)/admin.token"
            try await stack
                .run(logger: logger, extraServices: [supervisor] + (parentPid.map { [ParentWatch(parentPID: $0, logger: logger)] } ?? [])) {
                    say("database \(StateStores.redact(database)); config \(configPath)")
                    say("")
                    say("Try:")
                    say("  curl -s -X POST \(publicAddress)/auth/register -H 'Content-Type: application/json' -d '{\"username\":\"alice\",\"password\":\"correct horse battery\"}'")
                    say("  curl -s -X POST \(publicAddress)/auth/login -H 'Content-Type: application/json' -d '{\"username\":\"alice\",\"password\":\"correct horse battery\"}'")
                    say("  curl -s \(publicAddress)/auth/me -H 'Authorization: Bearer TOKEN'")
                    say("Ctrl-C drains and stops everything.")
                }
        } catch {
            supervisor.stopAll()
            throw error
        }
        supervisor.stopAll()
    }
}

/// For a stack started by another process (a drill): when that parent dies, drain and stop everything,
/// so a crashed drill leaves no stack behind.
struct ParentWatch: Service {
    let parentPID: Int32
    let logger: Logger

    struct ParentGone: Error, CustomStringConvertible {
        let pid: Int32
        var description: String { "the parent process \(pid) is gone; stopping the stack" }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            if getppid() != parentPID {
                logger.warning("parent \(parentPID) is gone; stopping")
                throw ParentGone(pid: parentPID)  // the group stops every service; up then stops the replicas
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}

enum PortCheck {
    /// True when `address` can be bound now (nothing else listens there).
    static func isFree(_ address: Address) async -> Bool {
        do {
            // SO_REUSEADDR as the real listeners use it, so TIME_WAIT leftovers do not count as taken.
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: address.host, port: address.port).get()
            try await channel.close()
            return true
        } catch {
            return false
        }
    }
}
