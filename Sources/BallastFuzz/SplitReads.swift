/// The property both stream targets share: the verdict on a byte stream does not depend on how
/// it is split into reads (whole, in uneven pieces, one byte at a time up to 4 KiB). A proxy
/// whose framing depends on TCP segmentation can be desynchronised from its peers.
enum SplitReads {
    /// `run(input, pieces)` gives the events; each split must pass `check` and give the same
    /// `comparable(events)` as the whole stream. Nil when it holds, else what broke.
    static func check<Event: Equatable>(_ input: [UInt8], largestPiece: Int,
                                        run: ([UInt8], [Int]) -> [Event],
                                        check: ([Event]) -> String?,
                                        comparable: ([Event]) -> [Event]) -> String? {
        let whole = run(input, [input.count])
        if let broken = check(whole) { return broken }
        let sizes = unevenSizes(input, largestPiece: largestPiece)
        let uneven = run(input, sizes)
        if let broken = check(uneven) { return "reads of sizes \(sizes.prefix(12)): \(broken)" }
        if comparable(uneven) != comparable(whole) { return "reads of sizes \(sizes.prefix(12)) gave \(uneven), the whole stream \(whole)" }
        if input.count <= 4096 {
            let bytewise = run(input, Array(repeating: 1, count: input.count))
            if let broken = check(bytewise) { return "one byte per read: \(broken)" }
            if comparable(bytewise) != comparable(whole) { return "one byte per read gave \(bytewise), the whole stream \(whole)" }
        }
        return nil
    }

    /// Read sizes from 1 to `largestPiece` covering `input`, drawn from the input itself so the
    /// fuzzer explores them too.
    static func unevenSizes(_ input: [UInt8], largestPiece: Int) -> [Int] {
        var sizes: [Int] = []
        var covered = 0
        var seed = input.reduce(UInt32(2166136261)) { ($0 ^ UInt32($1)) &* 16777619 }
        while covered < input.count {
            seed = seed &* 1103515245 &+ 12345
            let size = Int(seed >> 16) % largestPiece + 1
            sizes.append(size)
            covered += size
        }
        return sizes
    }
}
