import BallastAPI
import Foundation
import Testing

@testable import BallastControl

/// The incident state machine on recorded alert events.
struct IncidentTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func alert(_ kind: String, _ subject: String, _ severity: String = "page", at seconds: Double) -> TimelineEvent {
        TimelineEvent(at: t0.addingTimeInterval(seconds), source: "alerts", kind: kind, subject: subject,
                      message: "\(severity): \(subject)", details: ["severity": severity, "runbook": "r.md"])
    }

    @Test func aPageAlertOpensAndTheLastResolutionCloses() {
        var book = IncidentBook()
        #expect(book.observe(alert("alert.firing", "LatencyHigh route=auth", "ticket", at: 0)).isEmpty)
        let opened = book.observe(alert("alert.firing", "ErrorRateHigh route=auth", at: 1))
        #expect(opened.map(\.kind) == ["incident.opened"])
        #expect(opened[0].details?["incident"] == "1")
        #expect(book.observe(alert("alert.firing", "UpstreamUnhealthy upstream=auth", at: 2)).map(\.kind) == ["incident.alert_joined"])
        #expect(book.observe(alert("alert.firing", "UpstreamUnhealthy upstream=auth", at: 2.5)).isEmpty)  // no double join
        #expect(book.observe(alert("alert.resolved", "LatencyHigh route=auth", "ticket", at: 3)).isEmpty)
        #expect(book.observe(alert("alert.resolved", "ErrorRateHigh route=auth", at: 4)).map(\.kind) == ["incident.alert_resolved"])
        #expect(book.open?.firing == ["UpstreamUnhealthy upstream=auth"])
        let closed = book.observe(alert("alert.resolved", "UpstreamUnhealthy upstream=auth", at: 9))
        #expect(closed.map(\.kind) == ["incident.closed"])
        #expect(book.open == nil)
        let incident = book.incident(1)
        #expect(incident?.alerts == ["ErrorRateHigh route=auth", "UpstreamUnhealthy upstream=auth"])
        #expect(incident?.openedAt == t0.addingTimeInterval(1))
        #expect(incident?.closedAt == t0.addingTimeInterval(9))
        #expect(incident?.title == "ErrorRateHigh route=auth")
    }

    @Test func ticketAlertsAloneOpenNothingAndResolvingUnknownAlertsDoesNothing() {
        var book = IncidentBook()
        #expect(book.observe(alert("alert.firing", "HealthyShareFell upstream=auth", "ticket", at: 0)).isEmpty)
        #expect(book.observe(alert("alert.resolved", "ErrorRateHigh route=auth", at: 1)).isEmpty)
        #expect(book.observe(TimelineEvent(at: t0, source: "health", kind: "server.down", subject: "auth/x", message: "down")).isEmpty)
        #expect(book.incidents.isEmpty)
    }

    @Test func aNewPageAlertAfterClosingOpensTheNextIncident() {
        var book = IncidentBook()
        _ = book.observe(alert("alert.firing", "A", at: 0))
        _ = book.observe(alert("alert.resolved", "A", at: 5))
        let second = book.observe(alert("alert.firing", "A", at: 20))
        #expect(second.first?.details?["incident"] == "2")
        #expect(book.incidents.map(\.id) == [1, 2])
    }

    @Test func replayRebuildsStateAndARestartClosesWhatWasOpen() {
        var live = IncidentBook()
        var recorded: [TimelineEvent] = []
        for event in [alert("alert.firing", "A", at: 0), alert("alert.resolved", "A", at: 3), alert("alert.firing", "B", at: 10),
                      alert("alert.firing", "C", at: 11)] {
            recorded.append(event)
            recorded += live.observe(event)
        }
        var replayed = IncidentBook(replaying: recorded)
        #expect(replayed.incidents == live.incidents)
        #expect(replayed.open?.id == 2)
        let closing = replayed.closeOpen(at: t0.addingTimeInterval(60), reason: "restart")
        #expect(closing?.kind == "incident.closed")
        #expect(replayed.incident(2)?.closeReason == "restart")
        #expect(replayed.closeOpen(at: t0, reason: "again") == nil)
        // Ids continue after the restart.
        #expect(replayed.observe(alert("alert.firing", "A", at: 70)).first?.details?["incident"] == "3")
    }
}
