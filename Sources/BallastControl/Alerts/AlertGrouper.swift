import BallastAPI
import BallastConfig
import Foundation

/// One notification in Alertmanager's webhook format (version 4), so any receiver written for
/// Alertmanager (chat bridges, paging services) takes Ballast's notifications as they are.
package struct WebhookPayload: Sendable, Codable, Equatable {
    package struct Alert: Sendable, Codable, Equatable {
        package var status: String
        package var labels: [String: String]
        package var annotations: [String: String]
        package var startsAt: String
        package var endsAt: String
        package var generatorURL: String
        package var fingerprint: String
    }

    package var version = "4"
    package var groupKey: String
    package var truncatedAlerts = 0
    package var status: String
    package var receiver: String
    package var groupLabels: [String: String]
    package var commonLabels: [String: String]
    package var commonAnnotations: [String: String]
    package var externalURL: String
    package var alerts: [Alert]
}

/// Decides what to send, Alertmanager's way: alerts are grouped by `group_by` labels; a group
/// is notified when its set of firing alerts changes or an alert of it resolves, and again after
/// `repeat_interval` while it keeps firing. The same state is never sent twice in between.
struct AlertGrouper {
    private struct GroupState {
        var firing: Set<String> = []
        var sentAt: Double = 0
    }

    let notify: Notify
    let externalURL: String
    private var groups: [String: GroupState] = [:]

    init(notify: Notify, externalURL: String) {
        self.notify = notify
        self.externalURL = externalURL
    }

    /// Notifications for this evaluation: `firing` is every alert firing now, `resolved` those
    /// that resolved in this evaluation.
    mutating func notifications(firing: [AlertStatus], resolved: [AlertStatus], now: Double) -> [WebhookPayload] {
        var byGroup: [String: (labels: [String: String], firing: [AlertStatus], resolved: [AlertStatus])] = [:]
        for alert in firing {
            let (key, labels) = groupKey(alert)
            byGroup[key, default: (labels, [], [])].firing.append(alert)
        }
        for alert in resolved {
            let (key, labels) = groupKey(alert)
            byGroup[key, default: (labels, [], [])].resolved.append(alert)
        }
        var payloads: [WebhookPayload] = []
        for (key, group) in byGroup.sorted(by: { $0.key < $1.key }) {
            let firingSet = Set(group.firing.map(\.fingerprint))
            var state = groups[key] ?? GroupState()
            let changed = firingSet != state.firing || !group.resolved.isEmpty
            let repeatDue = !firingSet.isEmpty && now - state.sentAt >= Double(notify.repeatInterval.milliseconds) / 1000
            guard changed || repeatDue else { continue }
            state.firing = firingSet
            state.sentAt = now
            groups[key] = firingSet.isEmpty ? nil : state
            payloads.append(payload(groupKey: key, groupLabels: group.labels, firing: group.firing,
                                    resolved: group.resolved, now: now))
        }
        return payloads
    }

    private func groupKey(_ alert: AlertStatus) -> (String, [String: String]) {
        let labels = notify.groupBy.reduce(into: [String: String]()) { $0[$1] = alert.labels[$1] ?? "" }
        let key = "{}:{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ", ") + "}"
        return (key, labels)
    }

    private func payload(groupKey: String, groupLabels: [String: String], firing: [AlertStatus],
                         resolved: [AlertStatus], now: Double) -> WebhookPayload {
        let all = firing + resolved
        let alerts = all.map { alert in
            let isFiring = alert.state == .firing
            return WebhookPayload.Alert(
                status: isFiring ? "firing" : "resolved", labels: alert.labels, annotations: annotations(alert),
                startsAt: Self.timestamp(alert.firingSince),
                endsAt: isFiring ? "0001-01-01T00:00:00Z" : Self.timestamp(alert.resolvedAt ?? Date(timeIntervalSince1970: now)),
                generatorURL: "\(externalURL)/#alerts", fingerprint: alert.fingerprint)
        }
        func common(_ values: [[String: String]]) -> [String: String] {
            guard var result = values.first else { return [:] }
            for value in values.dropFirst() { result = result.filter { value[$0.key] == $0.value } }
            return result
        }
        return WebhookPayload(
            groupKey: groupKey, status: firing.isEmpty ? "resolved" : "firing", receiver: "ballast",
            groupLabels: groupLabels, commonLabels: common(alerts.map(\.labels)),
            commonAnnotations: common(alerts.map(\.annotations)), externalURL: externalURL, alerts: alerts)
    }

    private func annotations(_ alert: AlertStatus) -> [String: String] {
        ["summary": alert.summary, "description": "\(alert.condition); value \(alert.value)", "runbook_url": alert.runbook]
    }

    static func timestamp(_ date: Date?) -> String {
        guard let date else { return "0001-01-01T00:00:00Z" }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
