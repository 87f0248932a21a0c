import ArgumentParser
import BallastAPI
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

/// The balancer and its admin API, as `ballast lb` and `ballast up` both run them.
struct BalancerStack {
    let loaded: ConfigLoader.Loaded
    let configPath: String
    let threads: Int
    let drain: Duration
    let state: StateStores
    let timeline: Timeline
    /// The name this balancer reports to shared state.
    var instance: String?
    /// The admin token file to use (and create) when the environment holds no write token.
    var tokenFile: String?

    init(loaded: ConfigLoader.Loaded, configPath: String, threads: Int, drain: Duration, state: StateStores, timeline: Timeline? = nil) {
        self.loaded = loaded
        self.configPath = configPath
        self.threads = threads
        self.drain = drain
        self.state = state
        self.timeline = timeline ?? Timeline(store: state.timeline)
    }

    /// Starts everything, prints where, and returns once SIGTERM/SIGINT has drained it.
    func run(logger: Logger, extraServices: [any Service] = [], afterStart: () -> Void = {}) async throws {
        let registry = Telemetry.bootstrapOnce()
        Gauge(label: "ballast_build_info", dimensions: [("version", BuildInfo.version), ("revision", BuildInfo.revision)]).record(1)
        let tlsFindings = TLSCheck.check(loaded.config)
        let fileFindings = tlsFindings + RunbookCheck.check(loaded.config)
        for finding in fileFindings { printError(finding.description) }
        if fileFindings.contains(where: { $0.severity == .error }) { throw ExitCode(2) }
        // Room for every allowed client connection and its server connection (HAProxy does the same).
        FileDescriptorLimit.raise(toAtLeast: loaded.config.listeners.reduce(0) { $0 + $1.limits.maxConnections } * 2 + 256)
        let credentials: AdminCredentials
        do {
            credentials = try AdminCredentials.load(loaded.config, environment: ProcessInfo.processInfo.environment, generatedFile: tokenFile)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        if credentials.isEmpty {
            printError("warning: the admin API on \(loaded.config.admin.listen) takes no token: anything on this machine may change the config; set $\(loaded.config.admin.tokenEnv) or pass --admin-token-file")
        }
        let instance = self.instance ?? "\(ProcessInfo.processInfo.hostName):\(loaded.config.admin.listen.port)"
        let history = ConfigHistory(store: state.versions, instance: instance)
        let startup: StartupConfig
        do {
            startup = try await StartupConfig.decide(file: loaded, path: configPath, history: history, shared: state.shared)
        } catch {
            printError("error: the state database \(state.description): \(error)")
            throw ExitCode(2)
        }
        for note in startup.notes { printError("warning: \(note)") }
        let loaded = startup.loaded
        let balancer: LoadBalancer
        // Idle until a config in force has `tracing:` (a reload may turn it on or off).
        let spans = OTLPExporter()
        spans.start()
        do {
            let timeline = self.timeline
            balancer = try LoadBalancer(config: loaded.config, version: startup.version, threads: threads, logger: logger,
                                        spans: spans) { event in
                timeline.post(TimelineEvent(event))
            }
            try await balancer.start()
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let engine = AlertEngine(config: loaded.config, timeline: timeline, logger: Logger(label: "ballast.alerts"),
                                 externalURL: "http://\(loaded.config.admin.listen)") {
            PromText.parse(String(decoding: registry.emitToBuffer(), as: UTF8.self))
        }
        let monitor = StateMonitor(store: state.description, instance: instance)
        let api = AdminAPI(balancer: balancer, history: history, registry: registry, timeline: timeline, alerts: engine, state: monitor)
        await timeline.record(TimelineEvent(source: "config", kind: "config.applied", subject: "v\(startup.version)",
                                            message: "balancer \(instance) started with config v\(startup.version)"
                                                + (startup.loaded.config.sourceText == self.loaded.config.sourceText ? " (\(configPath))" : " (shared state)")))
        let follower = ConfigFollower(api: api, adminAddress: "http://\(loaded.config.admin.listen)")
        let app = AdminServer.application(api: api, admin: loaded.config.admin, credentials: credentials, logger: logger)
        let reloader = SignalReloader(file: configPath, api: api, logger: logger).install()
        defer { reloader.cancel() }
        let reopener = SignalLogReopener(balancer: balancer, logger: logger).install()
        defer { reopener.cancel() }
        let addresses = await balancer.boundAddresses()
        for listener in loaded.config.listeners {
            let port = addresses[listener.name]?.port ?? listener.listen.port
            say("listener \(listener.name) on \(listener.tls == nil ? "http" : "https")://\(Address(host: listener.listen.host, port: port))")
        }
        say("dashboard, admin API and metrics on http://\(loaded.config.admin.listen)"
            + (tokenFile.map { ProcessInfo.processInfo.environment[loaded.config.admin.tokenEnv]?.isEmpty == false ? "" : " (token in \($0))" } ?? ""))
        say("config v\(startup.version); state \(state.description) as \(instance)")
        afterStart()
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [.init(service: app), .init(service: BalancerService(balancer: balancer, drain: drain, spans: spans)),
             .init(service: AlertService(engine: engine, balancer: balancer)),
             .init(service: FollowerService(follower: follower))]
            + extraServices.map { .init(service: $0) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Keeps the balancer running until graceful shutdown, then drains it.
struct BalancerService: Service {
    let balancer: LoadBalancer
    let drain: Duration
    let spans: OTLPExporter

    func run() async throws {
        try? await gracefulShutdown()
        await balancer.shutdown(drainFor: drain)
        await spans.shutdown()  // the last requests' spans too
    }
}

/// Runs the alert engine until graceful shutdown, following the config in force.
struct AlertService: Service {
    let engine: AlertEngine
    let balancer: LoadBalancer

    func run() async throws {
        let balancer = self.balancer
        let task = Task { await engine.run { (balancer.runtime.version, balancer.runtime.config) } }
        try? await gracefulShutdown()
        task.cancel()
        await engine.stop()
    }
}

/// Follows the shared config versions until graceful shutdown.
struct FollowerService: Service {
    let follower: ConfigFollower

    func run() async throws {
        let task = Task { await follower.run() }
        try? await gracefulShutdown()
        task.cancel()
    }
}
