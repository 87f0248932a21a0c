import BallastConfig

/// Per-event-loop balancing state of one upstream.
///
/// Like Envoy's workers, each event loop balances on its own: no lock, no shared counter on the
/// request path. Only health and ejection (atomics in `ServerState`) are shared.
final class Balancer {
    let algorithm: BalanceAlgorithm
    let servers: [ServerTarget]
    let maglev: MaglevTable?
    let panicThresholdPercent: Double
    private var nextIndex = 0
    private var currentWeights: [Int]
    /// Requests in flight from this loop to each server (least_request).
    private(set) var active: [Int]
    private var rng: Xoshiro
    private var candidates: [Int] = []

    init(algorithm: BalanceAlgorithm, servers: [ServerTarget], maglev: MaglevTable?, panicThresholdPercent: Double, seed: UInt64? = nil) {
        self.algorithm = algorithm
        self.servers = servers
        self.maglev = maglev
        self.panicThresholdPercent = panicThresholdPercent
        self.currentWeights = Array(repeating: 0, count: servers.count)
        self.active = Array(repeating: 0, count: servers.count)
        self.rng = seed.map(Xoshiro.init(seed:)) ?? Xoshiro()
        self.nextIndex = Int(rng.next() % UInt64(max(1, servers.count)))
        candidates.reserveCapacity(servers.count)
    }

    /// Picks a server, skipping those in `excluded` (already tried for this request).
    ///
    /// Unavailable servers (down or ejected) are skipped unless fewer than the panic threshold
    /// are available: then, as in Envoy, every server is used, since sending to a possibly
    /// broken server beats refusing all traffic.
    func pick(hashKey: UInt64?, excluded: UInt64 = 0, now: Int64) -> ServerTarget? {
        candidates.removeAll(keepingCapacity: true)
        var weighted = 0
        for server in servers where server.weight > 0 {
            weighted += 1
            if server.state.isAvailable(now: now), !isExcluded(server.index, excluded) {
                candidates.append(server.index)
            }
        }
        guard weighted > 0 else { return nil }
        if Double(candidates.count) * 100 < panicThresholdPercent * Double(weighted) || candidates.isEmpty {
            guard panicThresholdPercent > 0 || !candidates.isEmpty else { return nil }
            candidates.removeAll(keepingCapacity: true)
            for server in servers where server.weight > 0 && !isExcluded(server.index, excluded) {
                candidates.append(server.index)
            }
            guard !candidates.isEmpty else { return nil }
        }
        return servers[choose(hashKey: hashKey)]
    }

    @inline(__always)
    private func isExcluded(_ index: Int, _ excluded: UInt64) -> Bool {
        index < 64 && excluded & (1 << UInt64(index)) != 0
    }

    private func choose(hashKey: UInt64?) -> Int {
        if candidates.count == 1 { return candidates[0] }
        switch algorithm {
        case .roundRobin:
            // The first candidate at or after the cursor, so a skipped server does not shift the rest.
            let start = nextIndex
            nextIndex = (nextIndex + 1) % servers.count
            var best = candidates[0]
            var bestDistance = Int.max
            for c in candidates {
                let distance = (c - start + servers.count) % servers.count
                if distance < bestDistance { (best, bestDistance) = (c, distance) }
            }
            nextIndex = (best + 1) % servers.count
            return best
        case .weightedRoundRobin:
            // nginx's smooth weighted round robin.
            var total = 0
            var best = candidates[0]
            for c in candidates {
                currentWeights[c] += servers[c].weight
                total += servers[c].weight
                if currentWeights[c] > currentWeights[best] { best = c }
            }
            currentWeights[best] -= total
            return best
        case .leastRequest:
            // Power of two choices: two distinct random candidates, the less busy one wins.
            let a = Int(rng.next() % UInt64(candidates.count))
            var b = Int(rng.next() % UInt64(candidates.count - 1))
            if b >= a { b += 1 }
            let (x, y) = (candidates[a], candidates[b])
            return active[x] <= active[y] ? x : y
        case .random:
            let total = candidates.reduce(0) { $0 + servers[$1].weight }
            var ticket = Int(rng.next() % UInt64(total))
            for c in candidates {
                ticket -= servers[c].weight
                if ticket < 0 { return c }
            }
            return candidates[candidates.count - 1]
        case .consistentHash:
            guard let maglev, let first = maglev.lookup(hashKey ?? rng.next()) else { return candidates[0] }
            if candidates.contains(first) { return first }
            // The home server is out: probe onwards through the table, so its keys spread
            // over the others while everyone else's keys stay put.
            let hash = hashKey ?? 0
            for step in 1..<maglev.entries.count {
                let index = Int(maglev.entries[Int((hash &+ UInt64(step)) % UInt64(maglev.entries.count))])
                if candidates.contains(index) { return index }
            }
            return candidates[0]
        }
    }

    func requestStarted(_ server: Int) { active[server] += 1 }
    func requestFinished(_ server: Int) { active[server] -= 1 }
}
