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

    @OptionGroup var logging: LogOptions
    @Option(help: "The config file.") var config: String
    @Option(help: "Event loops (default: one per core).") var threads: Int = System.coreCount
    @Option(help: "Seconds to let requests in flight finish on shutdown.") var drainSeconds: Int = 10
    @Option(help: "Where config versions and the timeline are kept: sqlite:PATH, or postgres://USER:PASSWORD@HOST:PORT/DATABASE shared with other balancers (default: $BALLAST_STATE, else in memory); a URL with a password is better given by --state-file or $BALLAST_STATE, out of ps.")
    var state: String?
    @Option(help: "A file (mode 0600) holding the --state URL on one line.") var stateFile: String?
    @Option(help: "This balancer's name in the shared state (default: HOST:ADMIN_PORT).") var instance: String?
    @Option(help: "The admin token with the write role, from this file (created with a random token, mode 0600, when missing), unless $BALLAST_ADMIN_TOKEN is set.")
    var adminTokenFile: String?

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be from 1 to 256") }
    }

    func run() async throws {
        let logger = LogSetup.bootstrapOnce(format: logging.logFormat)
        let loaded = try loadConfigOrExit(config, printWarnings: true)
        let stores: StateStores
        let state: String?
        do {
            state = try SecretURL.resolve(flag: self.state, flagName: "--state", file: stateFile, variable: "BALLAST_STATE")
        } catch {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        do {
            stores = try await StateStores.open(state)
        } catch {
            printError("error: --state '\(state.map(StateStores.redact) ?? "")': \(error)")
            throw ExitCode(2)
        }
        var stack = BalancerStack(loaded: loaded, configPath: config, threads: threads, drain: .seconds(drainSeconds), state: stores)
        stack.instance = instance
        stack.tokenFile = adminTokenFile
        try await stack.run(logger: logger)
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
                switch await api.applier.apply(text: text, author: "SIGHUP \(file)", origin: "reloaded by SIGHUP from \(file)") {
                case .applied(let version, _, _):
                    logger.info("SIGHUP: applied \(file) as v\(version)")
                case .invalid(let findings):
                    let first = findings.first { $0.severity == .error }?.description ?? "invalid"
                    logger.error("SIGHUP: \(file) refused (\(first)); nothing changed")
                case let other:
                    logger.error("SIGHUP: \(file) not applied (\(other)); nothing changed")
                }
            }
        }
        source.resume()
        return source
    }
}

/// SIGUSR1 opens the access log files again, as nginx does: logrotate's `postrotate`.
struct SignalLogReopener {
    let balancer: LoadBalancer
    let logger: Logger

    func install() -> any DispatchSourceSignal {
        signal(SIGUSR1, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGUSR1)
        source.setEventHandler { [balancer, logger] in
            balancer.reopenAccessLogs()
            logger.info("SIGUSR1: access logs reopened")
        }
        source.resume()
        return source
    }
}
