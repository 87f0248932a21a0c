import BallastAPI
import BallastProxy
import Foundation
import FoundationXML
import Testing

@testable import BallastControl

/// The postmortem renderer and its chart on a recorded incident: a config change breaks every
/// server of `auth` at +20 s, an alert fires at +23 s, a rollback at +30 s fixes it.
struct PostmortemTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    func recordedStore(closing: Bool = true) async throws -> MemoryTimelineStore {
        let store = MemoryTimelineStore()
        var errors = 0.0
        for second in 0...60 {
            let broken = (20...30).contains(second)
            if broken { errors += 50 }
            await store.appendVitals(Vitals(
                at: at(Double(second)),
                upstreams: ["auth": .init(requests: Double(second) * 100, errors: errors, healthyServers: broken ? 0 : 3, servers: 3)],
                activeSessions: second < 25 ? 200 : 190))
        }
        var book = IncidentBook()
        func record(_ event: TimelineEvent) async {
            await store.append(event)
            for caused in book.observe(event) { await store.append(caused) }
        }
        await record(TimelineEvent(at: at(-200), source: "health", kind: "server.up", subject: "auth/127.0.0.1:9101", message: "old news"))
        await record(TimelineEvent(at: at(18), source: "config", kind: "config.applied", subject: "v2", message: "config v2 applied by alice: upstream auth: servers changed",
                                   details: ["diff": "upstream auth: servers 127.0.0.1:9101 → 127.0.0.1:9201 [all traffic of route auth]"]))
        await record(TimelineEvent(at: at(21), source: "health", kind: "server.down", subject: "auth/127.0.0.1:9201", message: "server 127.0.0.1:9201 is down: connection refused"))
        await record(TimelineEvent(at: at(23), source: "alerts", kind: "alert.firing", subject: "ErrorRateHigh route=auth", message: "page: errors",
                                   details: ["severity": "page", "runbook": "docs/runbooks/error-rate-high.md"]))
        await record(TimelineEvent(at: at(30), source: "config", kind: "config.applied", subject: "v3", message: "config v3 applied by rollback to v1"))
        if closing {
            await record(TimelineEvent(at: at(35), source: "alerts", kind: "alert.resolved", subject: "ErrorRateHigh route=auth", message: "resolved",
                                       details: ["severity": "page", "runbook": "docs/runbooks/error-rate-high.md"]))
        }
        return store
    }

    @Test func factsFollowTheirDefinitions() async throws {
        let store = try await recordedStore()
        let record = try #require(try await IncidentRecord.load(incident: nil, from: store, now: at(60)))
        #expect(record.incident.id == 1)
        #expect(record.changes.map(\.subject) == ["v2"])
        let facts = PostmortemFacts(record)
        #expect(facts.start == at(20))                 // the first second with failures
        #expect(facts.detection == at(23))
        #expect(facts.mitigation == at(30))            // the rollback
        #expect(facts.resolution == at(35))
        #expect(facts.timeToDetect == 3)
        #expect(facts.timeToResolve == 15)
        #expect(facts.failedRequests == 550)           // 11 broken seconds × 50
        #expect(facts.requests == 1600)                // from 19 s to 35 s
        #expect(facts.sessionsBefore == 200)
        #expect(facts.sessionsLost == 10)
        #expect(facts.healthyServersLowest == 0)
    }

    @Test func theDraftHasTheSeedsSectionsAndSaysWhatNeedsAHuman() async throws {
        let store = try await recordedStore()
        let record = try #require(try await IncidentRecord.load(incident: 1, from: store, now: at(60)))
        let markdown = PostmortemRenderer(record: record, chartName: "incident-1.svg").markdown()
        for heading in ["## Overview", "## What changed before it", "## Timeline", "## Alerts and runbooks", "## Root cause and resolution",
                        "## Corrective measures", "## Definitions"] {
            #expect(markdown.contains(heading), "missing \(heading)")
        }
        #expect(markdown.contains("**Time to detect** 3.0 s"))
        #expect(markdown.contains("**Requests failed**: 550 of 1600 (34.38%)"))
        #expect(markdown.contains("**10 lost**"))
        #expect(markdown.contains("servers 127.0.0.1:9101 → 127.0.0.1:9201"))
        #expect(markdown.contains("| ErrorRateHigh route=auth | page |"))
        #expect(markdown.contains("docs/runbooks/error-rate-high.md"))
        #expect(markdown.contains("**Needs a human.**"))
        #expect(markdown.contains("![Error rate and healthy servers"))
        #expect(markdown.contains("`config.applied` v2 at 08:00:18.000"))  // the change named as the first suspect
        #expect(!markdown.contains("old news"))                        // before the window
    }

    /// The requests that failed in the window, with the ids that find them in the access log
    /// and in traces: counted by status and server, the first 20 listed, the rest pointed to.
    @Test func theDraftListsTheRequestsThatFailed() async throws {
        let store = try await recordedStore()
        var record = try #require(try await IncidentRecord.load(incident: 1, from: store, now: at(60)))
        #expect(!PostmortemRenderer(record: record).markdown().contains("## Requests that failed"))  // not asked: no section
        record.failedRequests = []
        #expect(PostmortemRenderer(record: record).markdown().contains("answered no request with a 5xx"))
        var failed: [FailedRequest] = []
        for index in 0..<25 {
            let early = index < 20
            let when: Date = at(20 + Double(index) / 10)
            let trace: String? = index == 0 ? "4bf92f3577b34da6a3ce929d0e0e4736" : nil
            failed.append(FailedRequest(at: when, listener: "public", route: "auth", upstream: "auth",
                                        server: early ? "127.0.0.1:9101" : nil, method: "POST", path: "/auth/login|x",
                                        status: early ? 502 : 503, requestID: String(format: "%032x", index + 1), traceID: trace,
                                        retries: 1, durationMs: 3))
        }
        record.failedRequests = failed
        let markdown = PostmortemRenderer(record: record).markdown()
        #expect(markdown.contains("25 requests answered with a 5xx: 20 × 502, 5 × 503; by the server that answered last: 127.0.0.1:9101 20, no server 5."))
        #expect(markdown.contains("| auth | 127.0.0.1:9101 | 502 | POST /auth/login\\|x | `00000000000000000000000000000001` | `4bf92f3577b34da6a3ce929d0e0e4736` |"), "\(markdown)")
        #expect(markdown.components(separatedBy: "| `000000000000000000000000000000").count - 1 == 20)
        #expect(markdown.contains("5 more in `GET /api/v1/incidents/1` (`failedRequests`)."))
        #expect(markdown.range(of: "## Requests that failed")!.lowerBound < markdown.range(of: "## Alerts and runbooks")!.lowerBound)
    }

    @Test func anOpenIncidentSaysSo() async throws {
        let store = try await recordedStore(closing: false)
        let record = try #require(try await IncidentRecord.load(incident: nil, from: store, now: at(60)))
        #expect(record.incident.isOpen)
        let markdown = PostmortemRenderer(record: record).markdown()
        #expect(markdown.contains("still open"))
        #expect(try await IncidentRecord.load(incident: 7, from: store) == nil)
    }

    @Test func theChartIsWellFormedSVGWithSeriesAndMarkers() async throws {
        let store = try await recordedStore()
        let record = try #require(try await IncidentRecord.load(incident: 1, from: store, now: at(60)))
        let svg = IncidentChart(record: record).svg()
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "not well-formed: \(String(describing: parser.parserError))")
        #expect(svg.contains(#"class="error-rate" data-points="60""#))
        #expect(svg.contains(#"class="healthy-servers" data-points="61""#))
        for kind in ["config.applied", "server.down", "alert.firing", "incident.opened", "incident.closed"] {
            #expect(svg.contains(#"data-kind="\#(kind)""#), "no marker for \(kind)")
        }
    }
}
