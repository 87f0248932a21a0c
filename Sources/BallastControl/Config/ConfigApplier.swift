import BallastAPI
import BallastConfig
import BallastProxy
import BallastStorage
import Foundation
import Metrics

/// The one way the config in force changes: a config posted to the admin API, a staged rollout,
/// a rollback, SIGHUP, and a version another balancer stored (`ConfigFollower`). Each goes
/// through the same steps: validate (rules, TLS files, runbooks), reserve a version, apply,
/// record, and put the previous config back when the record fails, with the same timeline
/// events and metrics. The answer is a typed `Outcome`; the admin API only maps it to HTTP.
package struct ConfigApplier: Sendable {
    package enum Outcome: Sendable {
        /// In force now as `version`.
        case applied(version: Int, warnings: [Finding], changes: [ConfigDiff.Change])
        /// A staged rollout ended (promoted, rolled back, or refused by preflight).
        case rolledOut(RolloutController.Outcome)
        /// It does not validate; nothing changed.
        case invalid([Finding])
        /// The state database did not answer; nothing changed.
        case stateUnavailable(String)
        /// Valid, but it could not be put in force; nothing changed.
        case failed(String)
        /// Another rollout is being watched; nothing changed.
        case busy
        /// A rollback with no earlier applied version; nothing changed.
        case nothingToRollBack
        /// A followed version is not newer than the one in force, or waits for a watched canary.
        case unchanged
    }

    package let balancer: LoadBalancer
    package let history: ConfigHistory
    package let timeline: Timeline
    package let rollouts: RolloutController
    private let applies: @Sendable (String) -> Metrics.Counter
    private let versionGauge: Metrics.Gauge

    /// `metrics` counts applies and records the version (`ballast_config_applies_total`,
    /// `ballast_config_version`); tests that share the process's metrics pass their own.
    package init(balancer: LoadBalancer, history: ConfigHistory, timeline: Timeline,
                metrics: any MetricsFactory = MetricsSystem.factory) {
        self.balancer = balancer
        self.history = history
        self.timeline = timeline
        self.rollouts = RolloutController(balancer: balancer, history: history, timeline: timeline)
        self.applies = { result in Metrics.Counter(label: "ballast_config_applies_total", dimensions: [("result", result)], factory: metrics) }
        self.versionGauge = Metrics.Gauge(label: "ballast_config_version", factory: metrics)
        versionGauge.record(balancer.version)
    }

    /// Every check a config passes before it may replace the one in force: the loader's rules,
    /// then the TLS files and runbooks it names, which must be usable on this host.
    package static func validate(_ text: String, file: String, baseDirectory: String) -> Result<ConfigLoader.Loaded, ConfigError> {
        let result = ConfigLoader.load(text: text, file: file, baseDirectory: baseDirectory)
        if case .success(let loaded) = result {
            let files = TLSCheck.check(loaded.config) + RunbookCheck.check(loaded.config)
            if files.contains(where: { $0.severity == .error }) { return .failure(ConfigError(findings: loaded.warnings + files)) }
        }
        return result
    }

    /// Validates a config from `origin` ("the admin API", "SIGHUP from FILE"); a refusal is
    /// counted and put on the timeline. Relative paths are relative to the directory of the
    /// config the balancer was started with (it passes from version to version).
    private func load(_ text: String, origin: String) -> Result<ConfigLoader.Loaded, ConfigError> {
        let result = Self.validate(text, file: "<admin>", baseDirectory: balancer.runtime.config.baseDirectory)
        if case .failure(let error) = result {
            applies("invalid").increment()
            let errors = error.findings.filter { $0.severity == .error }.count
            timeline.post(TimelineEvent(source: "config", kind: "config.invalid",
                                        message: "a config \(origin) was refused: \(errors) error(s), first: \(error.findings.first?.description ?? "")"))
        }
        return result
    }

    /// Validates and applies `text` at once; the config in force changes only when every step passed.
    package func apply(text: String, author: String, origin: String = "sent to the admin API") async -> Outcome {
        let loaded: ConfigLoader.Loaded
        switch load(text, origin: origin) {
        case .failure(let error): return .invalid(error.findings)
        case .success(let value): loaded = value
        }
        let previous = balancer.runtime
        let version: Int
        do { version = try await history.reserve(after: previous.version) } catch { return .stateUnavailable("\(error)") }
        do {
            let changes = ConfigDiff(old: previous.config, new: loaded.config).changes
            let runtime = try await balancer.apply(loaded.config, version: version)
            do {
                try await history.record(version: runtime.version, author: author, outcome: "applied", source: text, changes: changes)
            } catch {
                // Stored nowhere, so no other balancer could follow: the previous config goes back in force.
                _ = try? await balancer.apply(previous.config, version: previous.version)
                return .stateUnavailable("\(error)")
            }
            applies("applied").increment()
            versionGauge.record(runtime.version)
            await timeline.record(TimelineEvent(source: "config", kind: "config.applied", subject: "v\(runtime.version)",
                                                message: "config v\(runtime.version) applied by \(author)" + summary(changes),
                                                details: diffDetails(changes)))
            return .applied(version: runtime.version, warnings: loaded.warnings, changes: changes)
        } catch {
            applies("failed").increment()
            await timeline.record(TimelineEvent(source: "config", kind: "config.failed", message: "applying a config failed: \(error)"))
            return .failed("\(error)")
        }
    }

    /// Validates `text`, then rolls it out in stages (`RolloutController`); answers when the
    /// rollout has an outcome. `force` skips preflight, never the watch.
    package func rollOut(text: String, author: String, force: Bool) async -> Outcome {
        let loaded: ConfigLoader.Loaded
        switch load(text, origin: "sent to the admin API") {
        case .failure(let error): return .invalid(error.findings)
        case .success(let value): loaded = value
        }
        do {
            return .rolledOut(try await rollouts.rollOut(loaded, author: author, force: force))
        } catch is RolloutController.Busy {
            return .busy
        } catch let error as StorageUnavailable {
            return .stateUnavailable("\(error)")
        } catch {
            applies("failed").increment()
            return .failed("\(error)")
        }
    }

    /// Applies the previous applied version again, as a new version.
    package func rollBack(by author: String) async -> Outcome {
        let found: ConfigHistory.Entry?
        do { found = try await history.previousApplied(before: balancer.version) } catch { return .stateUnavailable("\(error)") }
        guard let previous = found else { return .nothingToRollBack }
        return await apply(text: previous.source, author: "rollback to v\(previous.version) by \(author)")
    }

    /// Puts in force a version another balancer stored, under its own number, unless it is not
    /// newer or a canary is being watched here. `instance` is this balancer's name.
    package func follow(_ latest: ConfigVersion, instance: String) async -> Outcome {
        guard latest.version > balancer.version, await rollouts.canaryVersion == nil else { return .unchanged }
        switch Self.validate(latest.source, file: "<v\(latest.version)>", baseDirectory: balancer.runtime.config.baseDirectory) {
        case .failure(let error):
            return .invalid(error.findings)
        case .success(let loaded):
            let previous = balancer.runtime.config
            do {
                try await balancer.apply(loaded.config, version: latest.version)
            } catch {
                return .failed("\(error)")
            }
            versionGauge.record(latest.version)
            await timeline.record(TimelineEvent(
                source: "config", kind: "config.followed", subject: "v\(latest.version)",
                message: "\(instance) now runs config v\(latest.version), applied by \(latest.author) on \(latest.origin ?? "another balancer")"))
            return .applied(version: latest.version, warnings: loaded.warnings, changes: ConfigDiff(old: previous, new: loaded.config).changes)
        }
    }
}
