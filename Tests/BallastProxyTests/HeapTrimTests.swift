import Foundation
import Testing

@testable import BallastProxy

#if os(Linux)
@Suite struct HeapTrimTests {
    /// Resident pages of this process, in bytes.
    static func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
        return Int(statm[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// What a burst of short-lived connections leaves: many small blocks, all freed, scattered
    /// over the arena between blocks still in use. The allocator keeps them until trimmed.
    @Test func aFreedBurstIsReturnedToTheSystem() throws {
        var blocks: [UnsafeMutableRawPointer] = []
        for _ in 0..<(96 << 20) / 8192 {
            let block = UnsafeMutableRawPointer.allocate(byteCount: 8192, alignment: 16)
            block.storeBytes(of: 1, as: UInt8.self)
            block.storeBytes(of: 1, toByteOffset: 4096, as: UInt8.self)
            blocks.append(block)
        }
        let peak = try Self.residentBytes()
        // One block in eight stays, so the free space cannot merge into the arena's top.
        for (index, block) in blocks.enumerated() where index % 8 != 0 { block.deallocate() }
        #expect(HeapTrim.freeBytes() > HeapTrim.threshold, "the freed burst is held by the allocator")
        HeapTrim.trimIfWorthIt()
        let after = try Self.residentBytes()
        // 84 MiB were freed in 56 KiB runs: most of their pages go back (another trimmer in this
        // process, such as a running balancer's, may have been first; the pages are gone either way).
        #expect(peak - after > 48 << 20, "resident \(peak >> 20) MiB before, \(after >> 20) MiB after")
        for (index, block) in blocks.enumerated() where index % 8 == 0 { block.deallocate() }
    }

    @Test func aHeapWithLittleFreeIsLeftAlone() {
        #expect(!HeapTrim.trimIfWorthIt(threshold: Int.max))
    }
}
#endif
