import BallastAPI
import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Starts auth replicas as child processes and stops them all when the stack stops.
///
/// A replica that exits is reported loudly and not restarted: a silent restart would hide the
/// very failure the stack exists to show. Replicas also watch their parent and exit if it dies,
/// so none is ever orphaned.
final class ReplicaSupervisor: Service, Sendable {
    private let processes = NIOLockedValueBox<[Int: Process]>([:])
    private let stopping = NIOLockedValueBox(false)
    let logger: Logger
    let timeline: Timeline

    init(logger: Logger, timeline: Timeline) {
        self.logger = logger
        self.timeline = timeline
    }

    struct ReplicaFailed: Error, CustomStringConvertible { var description: String }

    static var executable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }

    func start(index: Int, address: Address, database: String, bcryptCost: Int, logDirectory: String, logFormat: LogFormat,
               otlpEndpoint: String? = nil) throws {
        let logPath = "\(logDirectory)/replica-\(index).log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = Self.executable
        // The database URL (a PostgreSQL one carries a password) goes by environment, not argv.
        process.arguments = ["auth", "--listen", address.description,
                             "--bcrypt-cost", String(bcryptCost), "--parent-pid", String(getpid()),
                             "--log-format", logFormat.rawValue] + (otlpEndpoint.map { ["--otlp-endpoint", $0] } ?? [])
        process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_DATABASE": database]) { $1 }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        let logger = self.logger
        let stopping = self.stopping
        let timeline = self.timeline
        process.terminationHandler = { process in
            guard !stopping.withLockedValue({ $0 }) else { return }
            let how = process.terminationReason == .uncaughtSignal ? "was killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
            logger.critical("auth replica \(index) on \(address) \(how); it is NOT restarted, see \(logPath)")
            timeline.post(TimelineEvent(source: "replica", kind: "replica.exited", subject: address.description,
                                        message: "auth replica \(index) on \(address) \(how); not restarted"))
        }
        try process.run()
        timeline.post(TimelineEvent(source: "replica", kind: "replica.started", subject: address.description,
                                    message: "auth replica \(index) started on \(address) (pid \(process.processIdentifier))"))
        processes.withLockedValue { $0[index] = process }
    }

    func pid(_ index: Int) -> Int32? { processes.withLockedValue { $0[index]?.processIdentifier } }

    /// Waits (up to 15 s) until every replica answers its health check.
    func waitUntilHealthy(_ addresses: [Address], health: HealthCheck) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        for (index, address) in addresses.enumerated() {
            while true {
                if let process = processes.withLockedValue({ $0[index + 1] }), !process.isRunning {
                    throw ReplicaFailed(description: "auth replica \(index + 1) on \(address) exited at start (status \(process.terminationStatus))")
                }
                if case .passed = await HealthChecker.probe(address, health: health) { break }
                guard ContinuousClock.now < deadline else {
                    throw ReplicaFailed(description: "auth replica \(index + 1) on \(address) did not become healthy in 15 s")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    func run() async throws {
        try? await gracefulShutdown()
        stopAll()
    }

    /// SIGTERM to every replica, then SIGKILL to any still running after 5 s.
    func stopAll() {
        stopping.withLockedValue { $0 = true }
        let all = processes.withLockedValue { Array($0.values) }
        for process in all where process.isRunning {
            process.terminate()
            kill(process.processIdentifier, SIGCONT)  // a stopped (hung) replica must hear SIGTERM too
        }
        let deadline = Date().addingTimeInterval(5)
        for process in all {
            while process.isRunning, Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }
}
