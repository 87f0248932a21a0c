import ArgumentParser
import BallastControl
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import Prometheus
import Synchronization

private let bootstrapped = NIOLockedValueBox<PrometheusCollectorRegistry?>(nil)

enum Telemetry {
    /// Installs the Prometheus backend for swift-metrics once per process.
    static func bootstrapOnce() -> PrometheusCollectorRegistry {
        bootstrapped.withLockedValue { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: created)
            factory.defaultDurationHistogramBuckets = [
                .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                .milliseconds(2500), .seconds(5), .seconds(10),
            ]
            MetricsSystem.bootstrap(factory)
            registry = created
            return created
        }
    }
}

enum LogSetup {
    /// Logs to stderr at LOG_LEVEL (default info), as `--log-format` says (text by default).
    static func bootstrapOnce(format: LogFormat = .text) -> Logger {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json, .logfmt:
                var handler = LineLogHandler(label: label, format: format)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "ballast")
        if format != .text { MachineLog.logger.withLock { $0 = logger } }
        return logger
    }
}

/// `--log-format` for the commands that serve (`up`, `lb`, `auth`).
struct LogOptions: ParsableArguments {
    @Option(help: "How log lines are written to stderr: text (for people), json or logfmt (one record per line, for log shippers).")
    var logFormat: LogFormat = .text
}

extension LogFormat: ExpressibleByArgument {}
