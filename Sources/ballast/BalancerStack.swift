import ArgumentParser
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The balancer and its admin API, as `ballast lb` and `ballast up` both run them.
struct BalancerStack {
    let loaded: ConfigLoader.Loaded
    let configPath: String
    let threads: Int
    let drain: Duration
    let timeline: Timeline
    /// True when `up` runs the defaults it wrote itself.
    var embeddedDefaults = false

    /// Starts everything, prints where, and returns once SIGTERM/SIGINT has drained it.
    func run(logger: Logger, extraServices: [any Service] = [], afterStart: () -> Void = {}) async throws {
        let registry = Telemetry.bootstrapOnce()
        let tlsFindings = TLSCheck.check(loaded.config)
        // A stack started on the embedded defaults outside the repository still starts; its
        // dashboard then says the runbook is missing.
        let runbookFindings = RunbookCheck.check(loaded.config).map { finding in
            var finding = finding
            if embeddedDefaults { finding.severity = .warning }
            return finding
        }
        let fileFindings = tlsFindings + runbookFindings
        for finding in fileFindings { printError(finding.description) }
        if fileFindings.contains(where: { $0.severity == .error }) { throw ExitCode(2) }
        // Room for every allowed client connection and its server connection (HAProxy does the same).
        FileDescriptorLimit.raise(toAtLeast: loaded.config.listeners.reduce(0) { $0 + $1.limits.maxConnections } * 2 + 256)
        let token: String?
        do {
            token = try AdminServer.token(for: loaded.config.admin, environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let balancer: LoadBalancer
        do {
            let timeline = self.timeline
            balancer = try LoadBalancer(config: loaded.config, threads: threads, logger: logger) { event in
                timeline.post(TimelineEvent(event))
            }
            try await balancer.start()
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let history = ConfigHistory()
        await history.record(version: 1, author: "ballast --config \(configPath)", outcome: "applied", source: loaded.config.sourceText)
        let engine = AlertEngine(config: loaded.config, timeline: timeline, logger: Logger(label: "ballast.alerts"),
                                 externalURL: "http://\(loaded.config.admin.listen)") {
            PromText.parse(String(decoding: registry.emitToBuffer(), as: UTF8.self))
        }
        let api = AdminAPI(balancer: balancer, history: history, registry: registry, timeline: timeline, alerts: engine)
        await timeline.record(TimelineEvent(source: "config", kind: "config.applied", subject: "v1",
                                            message: "balancer started with \(configPath) as config v1"))
        let app = AdminServer.application(api: api, admin: loaded.config.admin, token: token, logger: logger)
        let reloader = SignalReloader(file: configPath, api: api, logger: logger).install()
        defer { reloader.cancel() }
        let addresses = await balancer.boundAddresses()
        for listener in loaded.config.listeners {
            let port = addresses[listener.name]?.port ?? listener.listen.port
            say("listener \(listener.name) on http://\(Address(host: listener.listen.host, port: port))")
        }
        say("dashboard, admin API and metrics on http://\(loaded.config.admin.listen)")
        afterStart()
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [.init(service: app), .init(service: BalancerService(balancer: balancer, drain: drain)),
             .init(service: AlertService(engine: engine, balancer: balancer))]
            + extraServices.map { .init(service: $0) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Keeps the balancer running until graceful shutdown, then drains it.
struct BalancerService: Service {
    let balancer: LoadBalancer
    let drain: Duration

    func run() async throws {
        try? await gracefulShutdown()
        await balancer.shutdown(drainFor: drain)
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
