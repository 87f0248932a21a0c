import BallastProxy
import Foundation
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
