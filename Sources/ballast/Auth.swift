import ArgumentParser
import BallastAuth
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Tracing
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOSSL
import Prometheus
import ServiceLifecycle
import UnixSignals

struct Auth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one auth replica.",
        discussion: "Several replicas may share one database: sessions and login throttling are the same on all of them.")

    @OptionGroup var logging: LogOptions
    @Option(help: "HOST:PORT to listen on (port 0: any free port, reported on standard output).") var listen: String
    @Option(help: "sqlite:PATH (embedded) or postgres://USER:PASSWORD@HOST:PORT/DATABASE (shared by replicas on several hosts); a URL with a password is better given by --database-file or $BALLAST_DATABASE, out of ps.")
    var database: String?
    @Option(help: "A file (mode 0600) holding the --database URL on one line.") var databaseFile: String?
    @Option(help: "bcrypt cost (4-31).") var bcryptCost: Int = 12
    @Option(help: "Idle timeout of a session, e.g. 30m.") var idleTimeout: String = "30m"
    @Option(help: "Absolute lifetime of a session, e.g. 12h.") var lifetime: String = "12h"
    @Option(help: "A proxy whose X-Forwarded-For names the client (repeatable).") var trustedProxy: [String] = ["127.0.0.1", "::1"]
    @Flag(help: "Mark the session cookie Secure even without TLS evidence.") var secureCookies = false
    @Option(help: "Registrations allowed per client network (IPv4 address or IPv6 /64) an hour.") var registrationsPerHour: Int = 30
    @Option(help: "How long audit events are kept, e.g. 90d.") var auditRetention: String = "90d"
    @Option(help: "PEM certificate chain: serve HTTPS, so passwords and tokens are encrypted between the balancer and this replica (with --tls-key).")
    var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(help: "Send spans of every request, login and store call to this OpenTelemetry collector (OTLP/HTTP JSON), e.g. http://127.0.0.1:4318/v1/traces; in the trace the balancer's traceparent names.")
    var otlpEndpoint: String?
    @Option(help: "The service.name of those spans.") var serviceName: String = "ballast-auth"
    @Option(help: .hidden) var parentPid: Int32?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard (4...31).contains(bcryptCost) else { throw ValidationError("--bcrypt-cost must be from 4 to 31") }
        if let otlpEndpoint, !(otlpEndpoint.hasPrefix("http://") || otlpEndpoint.hasPrefix("https://")) || URL(string: otlpEndpoint)?.host == nil {
            throw ValidationError("--otlp-endpoint '\(otlpEndpoint)' is not an http(s) URL, like http://127.0.0.1:4318/v1/traces")
        }
        if case .failure(let error) = Address.parseListen(listen) { throw ValidationError("--listen '\(listen)' \(error)") }
        guard Duration.parseConfig(idleTimeout) != nil else { throw ValidationError("--idle-timeout '\(idleTimeout)' is not a duration like 30m") }
        guard Duration.parseConfig(lifetime) != nil else { throw ValidationError("--lifetime '\(lifetime)' is not a duration like 12h") }
        guard registrationsPerHour >= 0 else { throw ValidationError("--registrations-per-hour must be 0 or more") }
        guard let retention = Duration.parseConfig(auditRetention), retention >= .seconds(3600) else {
            throw ValidationError("--audit-retention '\(auditRetention)' is not a duration of an hour or more, like 90d")
        }
    }

    func run() async throws {
        let logger = LogSetup.bootstrapOnce(format: logging.logFormat)
        let registry = Telemetry.bootstrapOnce()
        let address = try Address.parseListen(listen).get()
        let database: String
        do {
            guard let url = try SecretURL.resolve(flag: self.database, flagName: "--database", file: databaseFile, variable: "BALLAST_DATABASE") else {
                printError("error: no database: pass --database, --database-file or set $BALLAST_DATABASE")
                throw ExitCode(2)
            }
            database = url
        } catch let error as SecretURL.Missing {
            printError("error: \(error)")
            throw ExitCode(2)
        }
        var store: any AuthStore
        do {
            store = try AuthStores.open(database)
            try await store.migrate()
        } catch {
            printError("error: database '\(StateStores.redact(database))': \(error)")
            throw ExitCode(2)
        }
        // Tracing: every store call a span of the request (its server span comes from TracingMiddleware).
        var exporter: OTLPExporter?
        if let otlpEndpoint {
            let spans = OTLPExporter()
            spans.start()
            InstrumentationSystem.bootstrap(OTLPTracer(exporter: spans, endpoint: otlpEndpoint, serviceName: serviceName))
            store = TracedAuthStore(store, system: database.hasPrefix("sqlite:") ? "sqlite" : "postgresql")
            exporter = spans
        }
        var settings = AuthSettings()
        settings.idleTimeout = Double(Duration.parseConfig(idleTimeout)!.milliseconds) / 1000
        settings.lifetime = Double(Duration.parseConfig(lifetime)!.milliseconds) / 1000
        settings.throttle.registrationsPerNetwork = registrationsPerHour
        settings.auditRetention = Double(Duration.parseConfig(auditRetention)!.milliseconds) / 1000
        let service = try await AuthService(store: store, hasher: PasswordHasher(cost: UInt8(bcryptCost)), settings: settings, logger: logger)
        var api = AuthAPI(service: service, trustedProxies: Set(trustedProxy), secureCookies: secureCookies,
                          metricsText: { MetricCatalogue.withHelp(registry.emitToBuffer()) })
        api.tracing = exporter != nil
        let server: HTTPServerBuilder
        if let tlsCert, let tlsKey {
            do {
                // The listeners' policy: TLS 1.2 or 1.3, forward-secret AEAD suites only.
                var tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(tlsCert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: tlsKey, format: .pem)))
                tls.minimumTLSVersion = .tlsv12
                tls.cipherSuites = TLSPolicy.tls12CipherSuites
                server = try .tls(.http1(), tlsConfiguration: tls)
            } catch {
                printError("error: --tls-cert \(tlsCert) / --tls-key \(tlsKey): \(error)")
                throw ExitCode(2)
            }
        } else {
            server = .http1()
        }
        let app = Application(
            router: api.router(),
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "ballast-auth"),
            onServerRunning: { [scheme = tlsCert == nil ? "http" : "https", redacted = StateStores.redact(database)] channel in
                // The port actually bound, so `--listen 127.0.0.1:0` tells its caller where it is.
                let port = channel.localAddress?.port ?? address.port
                say("auth replica on \(scheme)://\(Address(host: address.host, port: port)) (database \(redacted))")
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: ReplicaHousekeeping(service: service, parentPID: parentPid, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        await exporter?.shutdown()
    }
}

/// Publishes `ballast_auth_active_sessions` every second (the alert engine watches it), prunes
/// old audit events and ended throttle windows every ten minutes and, for replicas started by
/// `ballast up`, exits when the parent is gone, so no replica outlives its stack.
struct ReplicaHousekeeping: Service {
    let service: AuthService
    let parentPID: Int32?
    let logger: Logger

    func run() async throws {
        let gauge = Gauge(label: "ballast_auth_active_sessions")
        var lastPrune = ContinuousClock.now - .seconds(600)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if ContinuousClock.now - lastPrune >= .seconds(600) {
                lastPrune = ContinuousClock.now
                do {
                    let pruned = try await service.prune()
                    if pruned.audit + pruned.throttle > 0 {
                        logger.info("pruned", metadata: ["audit_events": "\(pruned.audit)", "throttle_records": "\(pruned.throttle)"])
                    }
                } catch {
                    logger.warning("pruning failed; will try again", metadata: ["error": "\(error)"])
                }
            }
            if let parentPID, getppid() != parentPID {
                logger.warning("parent \(parentPID) is gone; stopping")
                throw CancellationError()
            }
            if let count = try? await service.activeSessionCount() { gauge.record(count) }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}
