import BallastAPI
import Foundation

/// An incident: opened when a page-level alert fires, closed when every page alert that opened
/// or joined it has resolved.

/// The incident state machine. It reads alert events and answers with incident events, which
/// it also applies; replaying stored incident events rebuilds it (ids continue after a restart).
///
/// ```
/// alert.firing  (page)  no incident open  → incident.opened
/// alert.firing  (page)  incident open     → incident.alert_joined
/// alert.resolved        last firing alert → incident.closed
/// ```
/// Ticket-level alerts never open or hold an incident; they show in its window.
package struct IncidentBook: Sendable {
    package private(set) var incidents: [Incident] = []

    package init() {}

    /// Rebuilds from stored `incident.*` events (other events are ignored).
    package init(replaying events: [TimelineEvent]) {
        for event in events { apply(event) }
    }

    /// The book as the timeline in `store` records it.
    package static func load(from store: any TimelineStore) async throws -> IncidentBook {
        IncidentBook(replaying: try await store.events(EventQuery(kinds: ["incident."], limit: 1_000_000)))
    }

    package var open: Incident? { incidents.last.flatMap { $0.isOpen ? $0 : nil } }

    package func incident(_ id: Int) -> Incident? { incidents.first { $0.id == id } }

    /// The incident events that `event` (an alert event) causes, already applied.
    package mutating func observe(_ event: TimelineEvent) -> [TimelineEvent] {
        guard let alert = event.subject else { return [] }
        var caused: [TimelineEvent] = []
        switch event.kind {
        case "alert.firing" where event.details?["severity"] == "page":
            if let current = open {
                guard !current.firing.contains(alert) else { return [] }
                caused.append(TimelineEvent(at: event.at, source: "incidents", kind: "incident.alert_joined", subject: "incident \(current.id)",
                                            message: "\(alert) joined incident \(current.id)",
                                            details: ["incident": String(current.id), "alert": alert]))
            } else {
                let id = (incidents.last?.id ?? 0) + 1
                caused.append(TimelineEvent(at: event.at, source: "incidents", kind: "incident.opened", subject: "incident \(id)",
                                            message: "incident \(id) opened: \(alert) fired (\(event.message))",
                                            details: ["incident": String(id), "alert": alert]))
            }
        case "alert.resolved":
            guard let current = open, current.firing == [alert] else {
                if let current = open, current.firing.contains(alert) {
                    caused.append(TimelineEvent(at: event.at, source: "incidents", kind: "incident.alert_resolved",
                                                subject: "incident \(current.id)", message: "\(alert) of incident \(current.id) resolved",
                                                details: ["incident": String(current.id), "alert": alert]))
                }
                break
            }
            let seconds = event.at.timeIntervalSince(current.openedAt)
            caused.append(TimelineEvent(at: event.at, source: "incidents", kind: "incident.closed", subject: "incident \(current.id)",
                                        message: "incident \(current.id) closed after \(Self.duration(seconds)): every alert resolved",
                                        details: ["incident": String(current.id), "alert": alert]))
        default:
            break
        }
        for event in caused { apply(event) }
        return caused
    }

    /// Closes the open incident for a reason other than its alerts (a restart, which forgets
    /// alert state); nil when none is open.
    package mutating func closeOpen(at date: Date, reason: String) -> TimelineEvent? {
        guard let current = open else { return nil }
        let event = TimelineEvent(at: date, source: "incidents", kind: "incident.closed", subject: "incident \(current.id)",
                                  message: "incident \(current.id) closed: \(reason)",
                                  details: ["incident": String(current.id), "reason": reason])
        apply(event)
        return event
    }

    /// Applies one incident event to the state.
    package mutating func apply(_ event: TimelineEvent) {
        guard event.kind.hasPrefix("incident."), let id = event.details?["incident"].flatMap(Int.init) else { return }
        let alert = event.details?["alert"]
        if event.kind == "incident.opened" {
            incidents.append(Incident(id: id, openedAt: event.at, closedAt: nil, title: alert ?? "incident \(id)",
                                      alerts: alert.map { [$0] } ?? [], firing: alert.map { [$0] } ?? []))
            return
        }
        guard let index = incidents.lastIndex(where: { $0.id == id }) else { return }
        switch event.kind {
        case "incident.alert_joined":
            if let alert {
                if !incidents[index].alerts.contains(alert) { incidents[index].alerts.append(alert) }
                if !incidents[index].firing.contains(alert) { incidents[index].firing.append(alert) }
            }
        case "incident.alert_resolved":
            incidents[index].firing.removeAll { $0 == alert }
        case "incident.closed":
            incidents[index].closedAt = event.at
            incidents[index].firing = []
            incidents[index].closeReason = event.details?["reason"]
        default:
            break
        }
    }

    static func duration(_ seconds: Double) -> String {
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        if seconds < 3600 { return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s" }
        return "\(Int(seconds) / 3600) h \(Int(seconds) % 3600 / 60) min"
    }
}
