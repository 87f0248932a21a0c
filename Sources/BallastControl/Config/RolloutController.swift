import BallastAPI
import BallastConfig
import BallastProxy
import Foundation
import Logging
import Metrics

/// Runs staged rollouts, one at a time: validate → preflight → canary → watch → promote or
/// roll back. Every step is logged; the outcome goes to the config history and metrics.
package actor RolloutController {
    package struct Outcome: Sendable, Codable {
        package enum Kind: String, Sendable, Codable {
            case promoted
            case rolledBack = "rolled_back"
            /// By preflight: an upstream had no healthy server; nothing was tried.
            case refused
        }

        package var version: Int
        package var outcome: Kind
        package var reason: String?
        package var seconds: Double
        package var canary: WindowSummary?
        package var stable: WindowSummary?
        package var findings: [Finding]
        package var changes: [ConfigDiff.Change]
    }

    package struct Busy: Error {}

    let balancer: LoadBalancer
    let history: ConfigHistory
    let timeline: Timeline
    let logger: Logger
    let tick: Duration
    private var running = false
    /// The version a canary is being watched for, if any.
    package private(set) var canaryVersion: Int?

    package init(balancer: LoadBalancer, history: ConfigHistory, timeline: Timeline = Timeline(store: MemoryTimelineStore()),
                logger: Logger = Logger(label: "ballast.rollout"), tick: Duration = .milliseconds(250)) {
        self.balancer = balancer
        self.history = history
        self.timeline = timeline
        self.logger = logger
        self.tick = tick
    }

    /// Rolls `loaded` out; `force` skips preflight, never the watch.
    package func rollOut(_ loaded: ConfigLoader.Loaded, author: String, force: Bool) async throws -> Outcome {
        guard !running else { throw Busy() }
        running = true
        defer { running = false }
        let started = ContinuousClock.now
        let config = loaded.config
        let changes = ConfigDiff(old: balancer.runtime.config, new: config).changes
        func seconds() -> Double { Double((ContinuousClock.now - started).milliseconds) / 1000 }

        if !force {
            let findings = await Preflight.run(config)
            if findings.contains(where: { $0.severity == .error }) {
                logger.error("rollout refused by preflight", metadata: ["author": .string(author)])
                Counter(label: "ballast_config_applies_total", dimensions: [("result", "refused")]).increment()
                try? await history.record(version: 0, author: author, outcome: "refused: preflight", source: config.sourceText, changes: changes)
                await timeline.record(TimelineEvent(source: "rollout", kind: "rollout.refused",
                                                    message: "rollout by \(author) refused by preflight: \(findings.filter { $0.severity == .error }.map(\.message).joined(separator: "; "))" + summary(changes),
                                                    details: diffDetails(changes)))
                return Outcome(version: balancer.version, outcome: .refused, reason: "preflight found an upstream with no healthy server",
                               seconds: seconds(), findings: findings, changes: changes)
            }
        }
        let version = try await balancer.startCanary(config, percent: config.rollout.canaryPercent, version: try await history.reserve(after: balancer.version))
        canaryVersion = version
        defer { canaryVersion = nil }
        await timeline.record(TimelineEvent(source: "rollout", kind: "rollout.canary_started", subject: "v\(version)",
                                            message: "canary v\(version) by \(author) on \(Int(config.rollout.canaryPercent))% of new requests, watching \(config.rollout.watch.configText)" + summary(changes),
                                            details: diffDetails(changes)))
        Gauge(label: "ballast_rollout_canary_version").record(version)
        logger.info("canary watching", metadata: ["version": .stringConvertible(version), "watch": .string(config.rollout.watch.configText)])
        let judge = RolloutJudge(policy: config.rollout)
        let watchStart = ContinuousClock.now
        var stats = RolloutStats()
        var verdict = RolloutJudge.Verdict.keepWatching
        while verdict == .keepWatching {
            try? await Task.sleep(for: tick)
            stats = await balancer.rolloutStats()
            verdict = judge.judge(elapsed: ContinuousClock.now - watchStart, canary: stats.canary, stable: stats.stable,
                                  healthyPercent: await balancer.canaryHealthyPercent())
        }
        Gauge(label: "ballast_rollout_canary_version").record(0)
        switch verdict {
        case .promote:
            let stable = balancer.runtime
            _ = try await balancer.promoteCanary()
            do {
                try await history.record(version: version, author: author, outcome: "applied", source: config.sourceText, changes: changes)
            } catch {
                // A version no other balancer can learn of must not stay in force here either.
                _ = try? await balancer.apply(stable.config, version: stable.version)
                logger.error("canary promoted but not stored; stable config put back", metadata: ["error": "\(error)"])
                throw error
            }
            Counter(label: "ballast_config_applies_total", dimensions: [("result", "promoted")]).increment()
            Gauge(label: "ballast_config_version").record(version)
            logger.info("canary promoted", metadata: ["version": .stringConvertible(version)])
            await timeline.record(TimelineEvent(source: "rollout", kind: "rollout.promoted", subject: "v\(version)",
                                                message: "canary v\(version) promoted: \(stats.canary.requests) canary requests, \(stats.canary.errors) errors"))
            return Outcome(version: version, outcome: .promoted, reason: nil, seconds: seconds(), canary: stats.canary.summary,
                           stable: stats.stable.summary, findings: loaded.warnings, changes: changes)
        case .rollBack(let reason):
            await balancer.abortCanary()
            Counter(label: "ballast_config_applies_total", dimensions: [("result", "rolled_back")]).increment()
            try? await history.record(version: version, author: author, outcome: "rolled back: \(reason)", source: config.sourceText, changes: changes)
            logger.error("canary rolled back", metadata: ["version": .stringConvertible(version), "reason": .string(reason)])
            await timeline.record(TimelineEvent(source: "rollout", kind: "rollout.rolled_back", subject: "v\(version)",
                                                message: "canary v\(version) rolled back after \(String(format: "%.1f", seconds())) s: \(reason)"))
            return Outcome(version: version, outcome: .rolledBack, reason: reason, seconds: seconds(), canary: stats.canary.summary,
                           stable: stats.stable.summary, findings: loaded.warnings, changes: changes)
        case .keepWatching:
            fatalError("the watch loop only ends on a verdict")
        }
    }
}
