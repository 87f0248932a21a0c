import CHeap
import Synchronization

/// Hands freed heap back to the system after a burst, as HAProxy's `trim_all_pools` does.
///
/// glibc keeps one arena per event-loop thread and returns an arena's memory only from its top:
/// after a burst of short-lived connections (10,000 TLS handshakes) the arenas hold hundreds of
/// MiB that are free but scattered, and the RSS never comes down (measured: 970 MiB of arena
/// against 3 MiB in use). `malloc_trim` releases the free pages inside the arenas too. It runs on
/// its own thread, never on an event loop, and only when the free part is worth it: each check
/// reads `mallinfo2`, a walk of the arenas' bins, and trims when more than `threshold` is free.
package final class HeapTrim: Sendable {
    /// Free heap above which a trim is worth its cost (it walks and locks each arena).
    package static let threshold = 32 << 20

    private let stopped = Atomic<Bool>(false)

    package init() {}

    /// Free bytes the allocator holds (glibc only; 0 elsewhere, where nothing is trimmed).
    package static func freeBytes() -> Int {
        Int(ballast_heap_free_bytes())
    }

    /// Trims when the free heap is above `threshold`; returns whether it did.
    @discardableResult
    package static func trimIfWorthIt(threshold: Int = HeapTrim.threshold) -> Bool {
        guard freeBytes() > threshold else { return false }
        return ballast_heap_trim() == 1
    }

    /// Checks every `interval` on a thread of its own until `stop()`.
    package func start(every interval: Duration = .seconds(1)) {
        Task.detached(priority: .background) { [self] in
            while !stopped.load(ordering: .relaxed) {
                try? await Task.sleep(for: interval)
                if stopped.load(ordering: .relaxed) { break }
                Self.trimIfWorthIt()
            }
        }
    }

    package func stop() { stopped.store(true, ordering: .relaxed) }
}
