import BallastAPI
import BallastProxy
import Foundation

/// Everything the timeline holds about one incident: the incident, the events in and just
/// before its window, the config changes that preceded it ("what changed?"), and the vital
/// signs to chart and count impact from.
package struct IncidentRecord: Sendable, Codable {
    /// How far before the opening the record looks for the start of the impact and events.
    package static let lead: TimeInterval = 120
    /// How far before the opening it looks for config changes.
    package static let changeLookback: TimeInterval = 3600
    /// How long after the close it keeps charting (the recovery).
    package static let tail: TimeInterval = 30

    package var incident: Incident
    package var events: [TimelineEvent]
    package var changes: [TimelineEvent]
    package var vitals: [Vitals]
    /// When the record was read (the end of an incident still open).
    package var readAt: Date
    /// The requests this balancer answered with a 5xx in the window, with their request and
    /// trace ids (what it still holds: the newest of each event loop since it started); nil
    /// when not asked.
    package var failedRequests: [FailedRequest]?

    /// The window the record covers: from `lead` before the opening to `tail` after the end.
    package var window: (from: Date, to: Date) {
        (incident.openedAt.addingTimeInterval(-Self.lead), (incident.closedAt ?? readAt).addingTimeInterval(Self.tail))
    }

    /// The incident with `id`, or the newest when nil; nil when there is none.
    package static func load(incident id: Int?, from store: any TimelineStore, now: Date = Date()) async throws -> IncidentRecord? {
        let book = try await IncidentBook.load(from: store)
        guard let incident = id.map(book.incident) ?? book.incidents.last else { return nil }
        return try await load(incident, from: store, now: now)
    }

    /// A record for `incident`, which may be a window that no alert opened (a drill's).
    package static func load(_ incident: Incident, from store: any TimelineStore, now: Date = Date()) async throws -> IncidentRecord {
        let end = incident.closedAt ?? now
        let from = incident.openedAt.addingTimeInterval(-lead)
        let events = try await store.events(EventQuery(since: from, until: end.addingTimeInterval(tail), limit: 5000))
        let changes = try await store.events(EventQuery(since: incident.openedAt.addingTimeInterval(-changeLookback), until: incident.openedAt,
                                                        kinds: ["config.", "rollout."], limit: 20, newestFirst: true))
        let vitals = try await store.vitals(from: from, to: end.addingTimeInterval(tail))
        return IncidentRecord(incident: incident, events: events, changes: changes.reversed(), vitals: vitals, readAt: now)
    }
}

/// The figures of a postmortem, computed from a record. Definitions (also printed in the draft):
///
/// - **start**: the first failed request or unhealthy server of the run of trouble that leads
///   into the detection (gaps under 10 s join a run), looking back at most 2 minutes; the
///   detection itself when nothing showed before it.
/// - **detection**: the page alert that opened the incident fired.
/// - **mitigation**: the first moment after detection from which users saw no failed request for
///   5 s, or a rollback, whichever came first.
/// - **resolution**: the last alert of the incident resolved.
/// - **time to detect / mitigate / resolve**: each of those minus the start.
package struct PostmortemFacts: Sendable, Equatable {
    package var start: Date
    package var detection: Date
    package var mitigation: Date?
    package var resolution: Date?
    package var requests: Int
    package var failedRequests: Int
    package var sessionsBefore: Int?
    package var sessionsLowest: Int?
    package var sessionsAtEnd: Int?
    package var healthyServersLowest: Int?
    package var servers: Int

    package var timeToDetect: TimeInterval { detection.timeIntervalSince(start) }
    package var timeToMitigate: TimeInterval? { mitigation?.timeIntervalSince(start) }
    package var timeToResolve: TimeInterval? { resolution?.timeIntervalSince(start) }
    /// Sessions that were active before and were not at the end.
    package var sessionsLost: Int? {
        guard let before = sessionsBefore, let after = sessionsAtEnd ?? sessionsLowest else { return nil }
        return max(0, before - after)
    }

    static let joinGap: TimeInterval = 10
    static let quietForMitigation: TimeInterval = 5

    package init(_ record: IncidentRecord) {
        let vitals = record.vitals
        let detection = record.incident.openedAt
        let resolution = record.incident.closedAt
        self.detection = detection
        self.resolution = resolution
        let end = resolution ?? record.readAt
        // Seconds with trouble: new failed requests, or fewer healthy servers than configured.
        var troubled: [Date] = []
        for (previous, current) in zip(vitals, vitals.dropFirst()) where current.at <= detection {
            let newErrors = current.errors - previous.errors
            if newErrors > 0.5 || (current.healthyServers.map { $0 < Double(current.servers) } ?? false) {
                troubled.append(current.at)
            }
        }
        troubled += record.events.filter { ["server.down", "server.ejected", "replica.exited"].contains($0.kind) && $0.at <= detection }.map(\.at)
        var start = detection
        for moment in troubled.sorted().reversed() where start.timeIntervalSince(moment) <= Self.joinGap {
            start = moment
        }
        self.start = start
        // Mitigation: a rollback, or the first quiet 5 s after detection.
        let rollback = record.events.first { ($0.kind == "rollout.rolled_back" || ($0.kind == "config.applied" && $0.message.contains("by rollback to v"))) && $0.at >= start }?.at
        var quietSince: Date?
        var quiet: Date?
        for (previous, current) in zip(vitals, vitals.dropFirst()) where current.at >= detection {
            if current.errors - previous.errors > 0.5 {
                quietSince = nil
            } else {
                let since = quietSince ?? previous.at
                quietSince = since
                if current.at.timeIntervalSince(since) >= Self.quietForMitigation {
                    quiet = since
                    break
                }
            }
        }
        mitigation = [rollback, quiet].compactMap { $0 }.min()
        // Impact inside [start, end].
        let before = vitals.last { $0.at < start } ?? vitals.first
        let inside = vitals.filter { $0.at >= start && $0.at <= end }
        let last = inside.last ?? vitals.last
        requests = Int(max(0, (last?.requests ?? 0) - (before?.requests ?? 0)))
        failedRequests = Int(max(0, (last?.errors ?? 0) - (before?.errors ?? 0)))
        sessionsBefore = before?.activeSessions.map { Int($0) }
        sessionsLowest = inside.compactMap(\.activeSessions).min().map { Int($0) }
        sessionsAtEnd = last?.activeSessions.map { Int($0) }
        healthyServersLowest = inside.compactMap(\.healthyServers).min().map { Int($0) }
        servers = vitals.last?.servers ?? 0
    }
}
