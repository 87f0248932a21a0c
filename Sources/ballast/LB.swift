import ArgumentParser
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

struct LB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lb",
        abstract: "Run the load balancer and its admin API.",
        discussion: "SIGHUP reloads the config file (a bad file changes nothing); SIGTERM or Ctrl-C drains and stops.")

    @Option(help: "The config file.") var config: String
    @Option(help: "Event loops (default: one per core).") var threads: Int = System.coreCount
    @Option(help: "Seconds to let requests in flight finish on shutdown.") var drainSeconds: Int = 10

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be from 1 to 256") }
    }

    func run() async throws {
        let loaded: ConfigLoader.Loaded
        switch ConfigLoader.load(file: config) {
        case .success(let value): loaded = value
        case .failure(let error):
            for finding in error.findings { printError(finding.description) }
            throw ExitCode(2)
        }
        for warning in loaded.warnings { printError(warning.description) }
        let logger = LogSetup.bootstrapOnce()
        let registry = Telemetry.bootstrapOnce()
        let token: String?
        do {
            token = try AdminServer.token(for: loaded.config.admin, environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let balancer: LoadBalancer
        do {
            balancer = try LoadBalancer(config: loaded.config, threads: threads, logger: logger)
            try await balancer.start()
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        let history = ConfigHistory()
        await history.record(version: 1, author: "ballast lb --config \(config)", outcome: "applied", source: loaded.config.sourceText)
        let api = AdminAPI(balancer: balancer, history: history, registry: registry)
        let app = AdminServer.application(api: api, admin: loaded.config.admin, token: token, logger: logger)
        let reloader = SignalReloader(file: config, api: api, logger: logger).install()
        defer { reloader.cancel() }
        let addresses = await balancer.boundAddresses()
        for listener in loaded.config.listeners {
            print("listener \(listener.name) on \(addresses[listener.name]?.description ?? listener.listen.description)")
        }
        print("admin API on http://\(loaded.config.admin.listen)")
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: BalancerService(balancer: balancer, drain: .seconds(drainSeconds)))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
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

/// SIGHUP re-reads the config file and applies it through the same path as the admin API.
struct SignalReloader {
    let file: String
    let api: AdminAPI
    let logger: Logger

    /// Starts listening for SIGHUP; keep the returned source alive while the balancer runs.
    func install() -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP)
        source.setEventHandler { [file, api, logger] in
            Task {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    logger.error("SIGHUP: cannot read \(file); nothing changed")
                    return
                }
                let response = await api.apply(text: text, author: "SIGHUP \(file)")
                if response.status == .ok {
                    logger.info("SIGHUP: applied \(file)")
                } else {
                    logger.error("SIGHUP: \(file) refused (\(response.status.code)); nothing changed")
                }
            }
        }
        source.resume()
        return source
    }
}
