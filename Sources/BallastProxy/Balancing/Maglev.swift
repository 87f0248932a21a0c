/// A Maglev lookup table (Eisenbud et al., NSDI 2016): each server fills table slots in its own
/// permutation order, in proportion to its weight. Adding or removing one of N servers moves
/// about 1/N of the keys, and lookups are one array index.
package struct MaglevTable: Sendable {
    package static let defaultSize = 65_537  // prime, as the paper requires
    package let entries: [Int32]

    /// `names` identify servers stably (their addresses); `weights` of 0 get no slots.
    package init(names: [String], weights: [Int], size: Int = MaglevTable.defaultSize) {
        let m = UInt64(size)
        let live = names.indices.filter { weights[$0] > 0 }
        guard !live.isEmpty else {
            entries = []
            return
        }
        var offset: [UInt64] = [], skip: [UInt64] = [], next = [UInt64](repeating: 0, count: names.count)
        for name in names {
            offset.append(fnv1a(name.utf8, seed: 0x9ae1_6a3b_2f90_404f) % m)
            skip.append(fnv1a(name.utf8, seed: 0xc3a5_c85c_97cb_3127) % (m - 1) + 1)
        }
        var table = [Int32](repeating: -1, count: size)
        var filled = 0
        let maxWeight = live.map { weights[$0] }.max()!
        // Weighted Maglev: in each round a server takes a turn while its accumulated weight allows.
        var credit = [Int](repeating: 0, count: names.count)
        outer: while true {
            for i in live {
                credit[i] += weights[i]
                guard credit[i] >= maxWeight else { continue }
                credit[i] -= maxWeight
                var c = (offset[i] + next[i] * skip[i]) % m
                while table[Int(c)] >= 0 {
                    next[i] += 1
                    c = (offset[i] + next[i] * skip[i]) % m
                }
                table[Int(c)] = Int32(i)
                next[i] += 1
                filled += 1
                if filled == size { break outer }
            }
        }
        entries = table
    }

    package func lookup(_ hash: UInt64) -> Int? {
        entries.isEmpty ? nil : Int(entries[Int(hash % UInt64(entries.count))])
    }
}
