import BallastAPI
import BallastProxy
import Foundation
import Synchronization
import Testing
@testable import BallastControl

@Suite struct TimelineTests {
    func path() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("ballast-timeline-\(UUID().uuidString)/t.sqlite").path
    }

    @Test func eventsAreStoredDurablyInOrderAndFilteredBySince() async throws {
        let file = path()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let store = try SQLiteTimelineStore(path: file)
            try await store.append(TimelineEvent(at: t0, source: "config", kind: "config.applied", subject: "v1", message: "one"))
            try await store.append(TimelineEvent(at: t0.addingTimeInterval(10), source: "health", kind: "server.down", message: "two"))
            try await store.append(TimelineEvent(at: t0.addingTimeInterval(20), source: "rollout", kind: "rollout.rolled_back", message: "three"))
        }
        // A new process (a new connection to the file) sees the same timeline.
        let reopened = try SQLiteTimelineStore(path: file)
        #expect(try await reopened.events(since: nil, limit: 10).map(\.message) == ["one", "two", "three"])
        #expect(try await reopened.events(since: t0.addingTimeInterval(5), limit: 10).map(\.kind) == ["server.down", "rollout.rolled_back"])
        #expect(try await reopened.events(since: nil, limit: 2).count == 2)
        #expect(try await reopened.events(since: nil, limit: 10).first?.id == 1)
    }

    @Test func proxyEventsReadAsSentences() {
        let down = TimelineEvent(ProxyEvent.serverHealth(upstream: "auth", server: "127.0.0.1:9101", healthy: false, reason: "answered 500, expected 200"))
        #expect(down.kind == "server.down")
        #expect(down.message == "server 127.0.0.1:9101 of upstream 'auth' is down: answered 500, expected 200")
        let ejected = TimelineEvent(ProxyEvent.serverEjected(upstream: "auth", server: "127.0.0.1:9102", seconds: 30))
        #expect(ejected.kind == "server.ejected")
        #expect(ejected.subject == "auth/127.0.0.1:9102")
    }

    @Test func sinceTakesADurationOrATime() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(parseSince("10m", now: now) == .some(now.addingTimeInterval(-600)))
        #expect(parseSince("2026-11-26T07:00:00Z", now: now) == .some(try! Date("2026-11-26T07:00:00Z", strategy: .iso8601)))
        #expect(parseSince(nil, now: now) == .some(nil))
        #expect(parseSince("yesterday", now: now) == nil)
    }
}

/// A store that refuses every write while `down` is set, as a locked or lost database does.
final class FlakyTimelineStore: TimelineStore, @unchecked Sendable {
    let inner = MemoryTimelineStore()
    let down = Mutex(true)
    struct Refused: Error {}

    func append(_ event: TimelineEvent) async throws {
        if down.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(50)); throw Refused() }
        await inner.append(event)
    }
    func events(_ query: EventQuery) async throws -> [TimelineEvent] { await inner.events(query) }
    func appendVitals(_ vitals: Vitals) async throws {
        if down.withLock({ $0 }) { throw Refused() }
        await inner.appendVitals(vitals)
    }
    func vitals(from: Date, to: Date) async throws -> [Vitals] { await inner.vitals(from: from, to: to) }
}

@Suite struct TimelineWriterTests {
    @Test func aDatabaseThatRefusesWritesDelaysNothingAndLosesNothing() async throws {
        let store = FlakyTimelineStore()
        let timeline = Timeline(store: store)
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<20 {
            await timeline.record(TimelineEvent(at: Date(timeIntervalSince1970: 1_000 + Double(index)), source: "test",
                                                kind: "note.step", subject: "\(index)", message: "step \(index)"))
        }
        // Twenty control-plane records while the database refuses them: each waits at most the short
        // limit (0.25 s), 5 s in all. The bound is six times that, for a loaded 2-core machine (16 s
        // was seen in a full suite beside a release build); an unbounded wait (a connect timeout
        // per record) would take a minute.
        #expect(clock.now - start < .seconds(20 * 0.25 * 6))
        timeline.post(TimelineEvent(at: Date(timeIntervalSince1970: 1_030), source: "test", kind: "alert.firing", message: "posted"))
        // Nothing stored yet, but everything is readable, in order.
        #expect(await store.inner.events(EventQuery()).isEmpty)
        let pending = try await timeline.events(EventQuery())
        #expect(pending.map(\.subject) == (0..<20).map { "\($0)" } + [nil])
        #expect(try await timeline.events(EventQuery(kinds: ["alert."])).count == 1)

        store.down.withLock { $0 = false }
        var stored: [TimelineEvent] = []
        for _ in 0..<100 where stored.count < 21 {
            try await Task.sleep(for: .milliseconds(100))
            stored = await store.inner.events(EventQuery())
        }
        #expect(stored.map(\.message) == (0..<20).map { "step \($0)" } + ["posted"])  // all of them, in order
        #expect(try await timeline.events(EventQuery()).count == 21)  // and not twice
    }
}
