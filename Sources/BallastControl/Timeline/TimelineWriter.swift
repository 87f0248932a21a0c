import BallastAPI
import Foundation
import Logging
import Synchronization

/// Writes timeline events and vital signs to the store in order, on one background task, so no
/// caller ever waits on the database for long. A database that is locked, full or gone delays
/// the writes (retried with back-off, oldest first), never the alert engine, the rollout or the
/// data plane: the monitoring must not share the fate of what it monitors. Items not yet stored
/// stay readable through `pendingEvents`.
final class TimelineWriter: Sendable {
    enum Item: Sendable {
        case event(TimelineEvent)
        case vitals(Vitals)
    }

    private struct State {
        var queue: [(sequence: UInt64, item: Item)] = []
        var nextSequence: UInt64 = 1
        var storedThrough: UInt64 = 0
        var draining = false
        var dropped = 0
    }

    /// Items kept while the store refuses them; beyond this the newest are dropped (and counted).
    static let capacity = 100_000
    private let store: any TimelineStore
    private let logger: Logger
    private let state = Mutex(State())

    init(store: any TimelineStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Queues `item`; returns its sequence number (0 when dropped for want of room).
    @discardableResult
    func enqueue(_ item: Item) -> UInt64 {
        let (sequence, start) = state.withLock { state -> (UInt64, Bool) in
            guard state.queue.count < Self.capacity else {
                state.dropped += 1
                return (0, false)
            }
            let sequence = state.nextSequence
            state.nextSequence += 1
            state.queue.append((sequence, item))
            let start = !state.draining
            state.draining = true
            return (sequence, start)
        }
        if sequence == 0 {
            logger.error("timeline queue full; an item was dropped", metadata: ["queued": "\(Self.capacity)"])
        }
        if start {
            let writer = self
            Task { await writer.drain() }
        }
        return sequence
    }

    /// Waits until item `sequence` is stored, or `limit` has passed; true when stored.
    func waitStored(_ sequence: UInt64, limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while true {
            if state.withLock({ $0.storedThrough >= sequence }) { return true }
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Events queued but not yet stored, oldest first.
    func pendingEvents() -> [TimelineEvent] {
        state.withLock { state in
            state.queue.compactMap { if case .event(let event) = $0.item { event } else { nil } }
        }
    }

    private func drain() async {
        var backoff: Duration = .milliseconds(250)
        var failing = false
        while let (sequence, item) = state.withLock({ state in state.queue.first.map { ($0.sequence, $0.item) } }) {
            do {
                switch item {
                case .event(let event): try await store.append(event)
                case .vitals(let vitals): try await store.appendVitals(vitals)
                }
                if failing {
                    logger.notice("timeline store is writable again; catching up")
                    failing = false
                }
                backoff = .milliseconds(250)
                let empty = state.withLock { state -> Bool in
                    state.queue.removeFirst()
                    state.storedThrough = sequence
                    if state.queue.isEmpty { state.draining = false }
                    return state.queue.isEmpty
                }
                if empty { return }
            } catch {
                if !failing {
                    logger.error("timeline store refuses writes; keeping events in memory and retrying",
                                 metadata: ["error": "\(error)", "queued": "\(state.withLock { $0.queue.count })"])
                    failing = true
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        state.withLock { $0.draining = false }
    }
}
