import BallastAPI
import BallastConfig
import BallastProxy
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Synchronization
import Testing
@testable import BallastControl

/// A version store whose writes can be made to fail (the state database went away mid-change).
final class FailingVersionStore: ConfigVersionStore {
    let inner = MemoryConfigVersionStore()
    let failRecords = Atomic<Bool>(false)
    struct Down: Error, CustomStringConvertible { var description: String { "the state database is down" } }

    func migrate() async throws {}
    func reserveVersion() async throws -> Int { await inner.reserveVersion() }
    func record(_ entry: ConfigVersion) async throws {
        if failRecords.load(ordering: .relaxed) { throw Down() }
        try await inner.record(entry)
    }
    func history(limit: Int) async throws -> [ConfigVersion] { await inner.history(limit: limit) }
    func latestApplied() async throws -> ConfigVersion? { await inner.latestApplied() }
    func report(_ instance: BalancerInstance) async throws { await inner.report(instance) }
    func instances(within: TimeInterval) async throws -> [BalancerInstance] { await inner.instances(within: within) }
    func notifications() -> AsyncStream<Int> { AsyncStream { $0.finish() } }
}

/// `ConfigApplier` with a real balancer (not started: nothing listens) and in-memory stores.
@Suite struct ConfigApplierTests {
    /// A config whose listener binds `port` (each test its own: the suite runs in parallel, and
    /// a balancer that was never started binds its listeners when a config is applied).
    static func yaml(port: Int, weight: Int = 1, extra: String = "") -> String {
        """
        version: 1
        listeners:
          - name: public
            listen: 127.0.0.1:\(port)
            routes: [ { name: all, match: { path_prefix: / }, upstream: app } ]
        upstreams:
          - name: app
            servers: [ { address: 127.0.0.1:18481, weight: \(weight) }, { address: 127.0.0.1:18482, weight: 1 } ]
        \(extra)
        """
    }

    struct Fixture {
        let applier: ConfigApplier
        let store: FailingVersionStore
        let timeline: Timeline
        let port: Int

        init(port: Int) throws {
            self.port = port
            let config = try ConfigLoader.load(text: ConfigApplierTests.yaml(port: port), file: "t.yaml").get().config
            store = FailingVersionStore()
            timeline = Timeline(store: MemoryTimelineStore())
            // Metrics of their own: other suites in this process count applies and read the version.
            applier = ConfigApplier(balancer: try LoadBalancer(config: config, threads: 1),
                                    history: ConfigHistory(store: store, instance: "lb1"), timeline: timeline,
                                    metrics: NOOPMetricsHandler.instance)
        }

        func yaml(weight: Int = 1, extra: String = "") -> String { ConfigApplierTests.yaml(port: port, weight: weight, extra: extra) }

        /// Closes what applying bound.
        func done() async { await applier.balancer.shutdown(drainFor: .milliseconds(10)) }

        func kinds() async throws -> [String] { try await timeline.events(EventQuery()).map(\.kind) }
    }

    @Test func aValidConfigIsAppliedRecordedAndPutOnTheTimeline() async throws {
        let f = try Fixture(port: 18480)
        let outcome = await f.applier.apply(text: f.yaml(weight: 3), author: "alice")
        guard case .applied(let version, _, let changes) = outcome else { Issue.record("a valid config is applied: \(outcome)"); return }
        #expect(f.applier.balancer.version == version && version > 0)
        #expect(changes.map(\.description).joined().contains("weight 1 → 3"))
        let stored = try #require(try await f.store.latestApplied())
        #expect(stored.version == version && stored.author == "alice")
        #expect(try await f.kinds().contains("config.applied"))
        await f.done()
    }

    @Test func anInvalidConfigChangesNothingAndSaysWhereItCameFrom() async throws {
        let f = try Fixture(port: 18481)
        let before = f.applier.balancer.version
        guard case .invalid(let findings) = await f.applier.apply(text: f.yaml(extra: "bogus: true"), author: "bob",
                                                                   origin: "reloaded by SIGHUP from /etc/ballast.yaml") else {
            Issue.record("an invalid config is refused"); return
        }
        #expect(findings.contains { $0.severity == .error })
        #expect(f.applier.balancer.version == before)
        #expect(try await f.store.latestApplied() == nil)
        let event = try #require(try await f.timeline.events(EventQuery()).first { $0.kind == "config.invalid" })
        #expect(event.message.contains("reloaded by SIGHUP from /etc/ballast.yaml was refused"))
        await f.done()
    }

    @Test func aVersionThatCannotBeStoredIsTakenBack() async throws {
        let f = try Fixture(port: 18482)
        let before = f.applier.balancer.runtime
        f.store.failRecords.store(true, ordering: .relaxed)
        guard case .stateUnavailable(let reason) = await f.applier.apply(text: f.yaml(weight: 5), author: "carol") else {
            Issue.record("an unstored version is refused"); return
        }
        #expect(reason.contains("down"))
        // The previous config is in force again, under its own version.
        #expect(f.applier.balancer.version == before.version)
        #expect(f.applier.balancer.runtime.config.sourceText == before.config.sourceText)
        await f.done()
    }

    @Test func aRollbackAppliesThePreviousVersionAgainAsANewOne() async throws {
        let f = try Fixture(port: 18483)
        guard case .nothingToRollBack = await f.applier.rollBack(by: "dave") else { Issue.record("nothing to roll back yet"); return }
        guard case .applied(let first, _, _) = await f.applier.apply(text: f.yaml(weight: 2), author: "dave"),
              case .applied(let second, _, _) = await f.applier.apply(text: f.yaml(weight: 4), author: "dave")
        else { Issue.record("two versions applied"); return }
        guard case .applied(let third, _, _) = await f.applier.rollBack(by: "erin") else { Issue.record("rolled back"); return }
        #expect(third > second && second > first)
        #expect(f.applier.balancer.runtime.config.sourceText == f.yaml(weight: 2))
        #expect(try await f.store.latestApplied()?.author == "rollback to v\(first) by erin")
        await f.done()
    }

    @Test func anotherBalancersVersionIsFollowedOnlyWhenNewerAndValidHere() async throws {
        let f = try Fixture(port: 18484)
        let current = f.applier.balancer.version
        let newer = ConfigVersion(version: current + 7, author: "frank", outcome: "applied", source: f.yaml(weight: 9), origin: "lb2")
        guard case .applied(let version, _, _) = await f.applier.follow(newer, instance: "lb1") else { Issue.record("followed"); return }
        #expect(version == current + 7 && f.applier.balancer.version == current + 7)
        let followed = try #require(try await f.timeline.events(EventQuery()).first { $0.kind == "config.followed" })
        #expect(followed.message == "lb1 now runs config v\(current + 7), applied by frank on lb2")

        guard case .unchanged = await f.applier.follow(newer, instance: "lb1") else { Issue.record("the same version again is no change"); return }
        let broken = ConfigVersion(version: current + 8, author: "frank", outcome: "applied", source: "version: 1\nbogus: true\n")
        guard case .invalid = await f.applier.follow(broken, instance: "lb1") else { Issue.record("an invalid version is refused"); return }
        #expect(f.applier.balancer.version == current + 7)
        await f.done()
    }

    @Test func theAdminAPIMapsEveryOutcomeToOneStatus() throws {
        #expect(try AdminAPI.response(.applied(version: 3, warnings: [], changes: [])).status.code == 200)
        #expect(try AdminAPI.response(.invalid([])).status.code == 422)
        #expect(try AdminAPI.response(.failed("x")).status.code == 422)
        #expect(try AdminAPI.response(.stateUnavailable("x")).status.code == 503)
        #expect(try AdminAPI.response(.busy).status.code == 409)
        #expect(try AdminAPI.response(.nothingToRollBack).status.code == 409)
        let promoted = RolloutController.Outcome(version: 4, outcome: .promoted, reason: nil, seconds: 1, findings: [], changes: [])
        #expect(try AdminAPI.response(.rolledOut(promoted)).status.code == 200)
        var rolledBack = promoted
        rolledBack.outcome = .rolledBack
        #expect(try AdminAPI.response(.rolledOut(rolledBack)).status.code == 409)
    }
}
