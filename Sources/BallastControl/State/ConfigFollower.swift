import BallastAPI
import BallastConfig
import BallastProxy
import BallastStorage
import Foundation
import Logging
import Metrics

/// What this balancer knows of its shared state: whether the database answers, and who it is.
package actor StateMonitor {
    package struct Report: Sendable, Codable {
        /// Where versions are kept (`memory`, `sqlite:…`, `postgres://user:***@…`).
        package var store: String
        package var instance: String
        package var reachable: Bool
        package var error: String?
        package var lastContact: Date?
        /// Every balancer that reported in the last 10 s, with the version it runs.
        package var balancers: [BalancerInstance]
        /// The newest applied version in the store.
        package var latestVersion: Int?
    }

    package let store: String
    package let instance: String
    private var reachable = true
    private var error: String?
    private var lastContact: Date?
    private var balancers: [BalancerInstance] = []
    private var latestVersion: Int?
    private let gauge = Gauge(label: "ballast_state_up")

    package init(store: String, instance: String) {
        self.store = store
        self.instance = instance
        gauge.record(1)
    }

    func succeeded(balancers: [BalancerInstance]? = nil, latest: Int? = nil) {
        reachable = true
        error = nil
        lastContact = Date()
        if let balancers { self.balancers = balancers }
        if let latest { latestVersion = latest }
        gauge.record(1)
    }

    func failed(_ error: any Error) {
        reachable = false
        self.error = "\(error)"
        gauge.record(0)
    }

    package func report() -> Report {
        Report(store: store, instance: instance, reachable: reachable, error: error, lastContact: lastContact,
               balancers: balancers, latestVersion: latestVersion)
    }
}

/// Keeps this balancer on the newest applied config version of the shared store: it applies a
/// version another balancer stored as soon as PostgreSQL notifies it (and on a poll every two
/// seconds, which also catches what a lost connection missed), through the same validation as
/// the admin API. It reports which version it runs as a heartbeat. A version this balancer
/// refuses is not retried; its note says why, and `ballast status` shows the disagreement.
package actor ConfigFollower {
    let api: AdminAPI
    let adminAddress: String
    let logger: Logger
    private var refused: [Int: String] = [:]
    private var note: String?

    package init(api: AdminAPI, adminAddress: String, logger: Logger = Logger(label: "ballast.state")) {
        self.api = api
        self.adminAddress = adminAddress
        self.logger = logger
    }

    package func run() async {
        let notifications = api.history.store.notifications()
        let listener = Task {
            for await version in notifications {
                logger.debug("notified of config version", metadata: ["version": .stringConvertible(version)])
                await self.catchUp()
            }
        }
        defer { listener.cancel() }
        while !Task.isCancelled {
            await catchUp()
            await heartbeat()
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Applies the newest applied version when it is newer than the one in force.
    package func catchUp() async {
        let balancer = api.balancer
        let latest: ConfigVersion?
        do {
            latest = try await api.history.store.latestApplied()
        } catch {
            await api.state.failed(error)
            return
        }
        await api.state.succeeded(latest: latest?.version)
        guard let latest, latest.version > balancer.version, refused[latest.version] == nil else { return }
        switch await api.applier.follow(latest, instance: api.state.instance) {
        case .applied:
            note = nil
            logger.info("followed config version", metadata: ["version": .stringConvertible(latest.version),
                                                              "origin": .string(latest.origin ?? "?")])
        case .invalid(let findings):
            let errors = findings.filter { $0.severity == .error }
            refuse(latest, because: "it does not validate here: " + errors.prefix(3).map(\.description).joined(separator: "; "))
        case .failed(let reason):
            refuse(latest, because: "applying it failed here: \(reason)")
        default:
            break  // not newer, or a canary is being watched: the next catch-up looks again
        }
    }

    private func refuse(_ version: ConfigVersion, because reason: String) {
        refused[version.version] = reason
        note = "refused v\(version.version): \(reason)"
        logger.error("config version refused here; keeping the one in force",
                     metadata: ["version": .stringConvertible(version.version), "reason": .string(reason)])
        api.timeline.post(TimelineEvent(source: "config", kind: "config.refused_here", subject: "v\(version.version)",
                                        message: "\(api.state.instance) refused config v\(version.version) and keeps v\(api.balancer.version): \(reason)"))
    }

    /// Says which version this balancer runs, and reads what the others run.
    func heartbeat() async {
        let runtime = api.balancer.runtime
        let me = BalancerInstance(id: api.state.instance, admin: adminAddress, version: runtime.version,
                                  configHash: TopologyFacts.hash(of: runtime.config), note: note)
        do {
            try await api.history.store.report(me)
            await api.state.succeeded(balancers: try await api.history.store.instances(within: 10))
        } catch {
            await api.state.failed(error)
        }
    }
}
