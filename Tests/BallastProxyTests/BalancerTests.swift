import BallastConfig
import NIOCore
import Synchronization
import Testing
@testable import BallastProxy

func targets(_ weights: [Int]) -> [ServerTarget] {
    weights.enumerated().map { index, weight in
        let address = Address(host: "127.0.0.1", port: 9000 + index)
        return ServerTarget(index: index, address: address, socketAddress: try! SocketAddress(ipAddress: "127.0.0.1", port: 9000 + index),
                            weight: weight, state: ServerState(address: address), key: address.description)
    }
}

func balancer(_ algorithm: BalanceAlgorithm, _ servers: [ServerTarget], panic: Double = 50) -> Balancer {
    let maglev = algorithm == .consistentHash ? MaglevTable(names: servers.map(\.key), weights: servers.map(\.weight), size: 4099) : nil
    return Balancer(algorithm: algorithm, servers: servers, maglev: maglev, panicThresholdPercent: panic, seed: 42)
}

func counts(_ b: Balancer, _ n: Int, key: (Int) -> UInt64? = { _ in nil }) -> [Int] {
    var counts = Array(repeating: 0, count: b.servers.count)
    for i in 0..<n { counts[b.pick(hashKey: key(i), now: 0)!.index] += 1 }
    return counts
}

@Suite struct BalancerTests {
    @Test func roundRobinVisitsEachInTurn() {
        let b = balancer(.roundRobin, targets([1, 1, 1]))
        let picks = (0..<6).map { _ in b.pick(hashKey: nil, now: 0)!.index }
        #expect(Set(picks[0..<3]) == [0, 1, 2])
        #expect(Array(picks[3..<6]) == Array(picks[0..<3]))
    }

    @Test func smoothWeightedRoundRobinMatchesNginx() {
        // nginx's documented sequence for weights 5, 1, 1: a a b a c a a.
        let b = balancer(.weightedRoundRobin, targets([5, 1, 1]))
        let picks = (0..<7).map { _ in b.pick(hashKey: nil, now: 0)!.index }
        #expect(picks == [0, 0, 1, 0, 2, 0, 0])
    }

    @Test func randomFollowsWeights() {
        let c = counts(balancer(.random, targets([3, 1])), 40_000)
        #expect(abs(Double(c[0]) / 40_000 - 0.75) < 0.02)
    }

    @Test func leastRequestAvoidsTheBusyServer() {
        let b = balancer(.leastRequest, targets([1, 1, 1]))
        for _ in 0..<10 { b.requestStarted(0) }
        let c = counts(b, 3000)
        #expect(c[0] == 0)
        #expect(c[1] > 1000 && c[2] > 1000)
    }

    @Test func unavailableServersAreSkipped() {
        let servers = targets([1, 1, 1, 1])
        servers[1].state.healthy.store(false, ordering: .relaxed)
        servers[2].state.ejectedUntil.store(1000, ordering: .relaxed)
        for algorithm in BalanceAlgorithm.allCases {
            let c = counts(balancer(algorithm, servers), 400) { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
            #expect(c[1] == 0 && c[2] == 0, "\(algorithm)")
            #expect(c[0] + c[3] == 400, "\(algorithm)")
        }
    }

    @Test func panicModeSpreadsOverEveryServer() {
        let servers = targets([1, 1, 1, 1])
        for i in 0..<3 { servers[i].state.healthy.store(false, ordering: .relaxed) }
        // 25% available < 50% threshold: Envoy's panic mode uses every server.
        #expect(counts(balancer(.roundRobin, servers, panic: 50), 400).allSatisfy { $0 == 100 })
        // Threshold 0 disables panic: only the healthy one is used.
        #expect(counts(balancer(.roundRobin, servers, panic: 0), 400) == [0, 0, 0, 400])
        servers[3].state.healthy.store(false, ordering: .relaxed)
        #expect(balancer(.roundRobin, servers, panic: 0).pick(hashKey: nil, now: 0) == nil)
    }

    @Test func excludedServersAreNotPickedAgain() {
        let b = balancer(.roundRobin, targets([1, 1]))
        for _ in 0..<10 { #expect(b.pick(hashKey: nil, excluded: 0b01, now: 0)?.index == 1) }
        #expect(b.pick(hashKey: nil, excluded: 0b11, now: 0) == nil)
    }

    @Test func zeroWeightServersGetNothing() {
        for algorithm in BalanceAlgorithm.allCases {
            let c = counts(balancer(algorithm, targets([1, 0, 1])), 300) { UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }
            #expect(c[1] == 0, "\(algorithm)")
        }
    }

    @Test func consistentHashIsStickyAndSpreads() {
        let b = balancer(.consistentHash, targets([1, 1, 1]))
        let keys = (0..<3000).map { fnv1a("session-\($0)".utf8) }
        let first = keys.map { b.pick(hashKey: $0, now: 0)!.index }
        #expect(keys.map { b.pick(hashKey: $0, now: 0)!.index } == first)
        for server in 0..<3 { #expect(first.count { $0 == server } > 800) }
    }

    @Test func consistentHashMovesOnlyAboutOneNthWhenAServerIsAdded() {
        let keys = (0..<10_000).map { fnv1a("user-\($0)".utf8) }
        let before = MaglevTable(names: (0..<4).map { "10.0.0.\($0):80" }, weights: [1, 1, 1, 1])
        let after = MaglevTable(names: (0..<5).map { "10.0.0.\($0):80" }, weights: [1, 1, 1, 1, 1])
        let moved = keys.count { before.lookup($0) != after.lookup($0) }
        // Ideal is 1/5 = 20%; Maglev stays close to it.
        #expect(Double(moved) / Double(keys.count) < 0.27)
        #expect(Double(moved) / Double(keys.count) > 0.15)
    }

    @Test func consistentHashOfADownServerMovesOnlyItsKeys() {
        let servers = targets([1, 1, 1, 1])
        let b = balancer(.consistentHash, servers)
        let keys = (0..<4000).map { fnv1a("k\($0)".utf8) }
        let before = keys.map { b.pick(hashKey: $0, now: 0)!.index }
        servers[2].state.healthy.store(false, ordering: .relaxed)
        let after = keys.map { b.pick(hashKey: $0, now: 0)!.index }
        for (x, y) in zip(before, after) where x != 2 { #expect(x == y) }
        #expect(!after.contains(2))
    }

    @Test func maglevFollowsWeights() {
        let table = MaglevTable(names: ["a", "b"], weights: [3, 1], size: 65_537)
        let share = Double(table.entries.count { $0 == 0 }) / Double(table.entries.count)
        #expect(abs(share - 0.75) < 0.01)
    }
}

@Suite struct HealthStateMachineTests {
    @Test func flipsOnlyAfterTheThresholds() {
        var m = HealthStateMachine(healthyAfter: 2, unhealthyAfter: 3)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: false) == false)
        #expect(!m.isHealthy)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: true) == nil)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: true) == nil)
        #expect(m.record(success: true) == true)
        #expect(m.isHealthy)
    }

    @Test func aSuccessResetsTheFailureRun() {
        var m = HealthStateMachine(healthyAfter: 1, unhealthyAfter: 2)
        #expect(m.record(success: false) == nil)
        #expect(m.record(success: true) == nil)
        #expect(m.record(success: false) == nil)
        #expect(m.isHealthy)
    }
}

@Suite struct OutlierDetectorTests {
    let second: Int64 = 1_000_000_000

    @Test func ejectsAfterConsecutiveFailuresWithBackoff() {
        var d = OutlierDetector(serverCount: 4, consecutiveFailures: 3, ejectForNanos: 10 * second, maxEjectedPercent: 50)
        #expect(d.recordFailure(0, now: 0) == nil)
        #expect(d.recordFailure(0, now: 0) == nil)
        #expect(d.recordFailure(0, now: 0) == 10 * second)
        #expect(d.isEjected(0, now: 5 * second))
        #expect(!d.isEjected(0, now: 10 * second))
        // Fails again right after: ejected twice as long.
        for _ in 0..<2 { _ = d.recordFailure(0, now: 11 * second) }
        #expect(d.recordFailure(0, now: 11 * second) == 31 * second)
    }

    @Test func successBreaksTheRun() {
        var d = OutlierDetector(serverCount: 2, consecutiveFailures: 2, ejectForNanos: second, maxEjectedPercent: 50)
        _ = d.recordFailure(1, now: 0)
        d.recordSuccess(1, now: 0)
        #expect(d.recordFailure(1, now: 0) == nil)
    }

    @Test func neverEjectsMoreThanTheCap() {
        var d = OutlierDetector(serverCount: 4, consecutiveFailures: 1, ejectForNanos: second, maxEjectedPercent: 50)
        #expect(d.recordFailure(0, now: 0) != nil)
        #expect(d.recordFailure(1, now: 0) != nil)
        #expect(d.recordFailure(2, now: 0) == nil)
        #expect(d.ejectedCount(now: 0) == 2)
        // Once the first ejections expire, another server may go.
        #expect(d.recordFailure(2, now: second) != nil)
    }

    @Test func oneServerMayAlwaysBeEjected() {
        var d = OutlierDetector(serverCount: 2, consecutiveFailures: 1, ejectForNanos: second, maxEjectedPercent: 10)
        #expect(d.recordFailure(0, now: 0) != nil)
        #expect(d.recordFailure(1, now: 0) == nil)
    }

    @Test func backoffIsForgottenAfterAQuietPeriod() {
        var d = OutlierDetector(serverCount: 2, consecutiveFailures: 1, ejectForNanos: second, maxEjectedPercent: 50)
        _ = d.recordFailure(0, now: 0)
        d.recordSuccess(0, now: 3 * second)
        #expect(d.recordFailure(0, now: 3 * second) == 4 * second)
    }
}
