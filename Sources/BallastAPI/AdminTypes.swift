import BallastConfig
import Foundation

// The types the admin API and the auth API speak, shared by the server, the CLI and the drills.

/// The admin API's replies as types, in one place: the server (`BallastControl`) encodes them,
/// and the CLI and the drills decode them (`AdminReplies.decode`), so none can disagree on a key. Times are ISO 8601 with
/// milliseconds (`ISOTime`).
package enum AdminReplies {
    /// Any refusal: `{"error": code, "message": text}`.
    package struct Failure: Codable, Sendable {
        package var error: String
        package var message: String

        package init(error: String, message: String) {
            self.error = error
            self.message = message
        }
    }

    /// 422 `invalid_config` (and a refused rollout's findings): every finding, errors first.
    package struct Findings: Codable, Sendable {
        package var error: String
        package var findings: [Finding]

        package init(error: String, findings: [Finding]) {
            self.error = error
            self.findings = findings
        }
    }

    /// 200 from `POST /api/v1/config` and `/config/rollback`.
    package struct Applied: Codable, Sendable {
        package var version: Int
        package var warnings: [Finding]

        package init(version: Int, warnings: [Finding]) {
            self.version = version
            self.warnings = warnings
        }
    }

    /// `GET /api/v1/config/history`: oldest first.
    package struct History: Codable, Sendable {
        package var versions: [ConfigVersion]

        package init(versions: [ConfigVersion]) {
            self.versions = versions
        }
    }

    /// `GET /api/v1/events`.
    package struct Events: Codable, Sendable {
        package var events: [TimelineEvent]
        /// The cursor for what comes after this page (`?after=`): there may be more when the
        /// page is full; a follower asks again with it later. Absent for a page of no stored event.
        package var next: String?

        package init(events: [TimelineEvent], next: String? = nil) {
            self.events = events
            self.next = next
        }
    }

    /// `GET /api/v1/alerts`: every rule with its state.
    package struct Alerts: Codable, Sendable {
        package var alerts: [AlertStatus]

        package init(alerts: [AlertStatus]) {
            self.alerts = alerts
        }
    }

    /// `GET /api/v1/incidents`: newest first.
    package struct Incidents: Codable, Sendable {
        package var incidents: [Incident]

        package init(incidents: [Incident]) {
            self.incidents = incidents
        }
    }

    /// Any reply, read as `type`; nil when the body is not one (an answer from something else).
    package static func decode<T: Decodable>(_ type: T.Type, from body: Data) -> T? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        return try? decoder.decode(type, from: body)
    }
}

/// Something that happened to the stack, with when and where it came from.
package struct TimelineEvent: Sendable, Codable, Equatable {
    package var id: Int64?
    package var at: Date
    /// Who recorded it: `config`, `rollout`, `health`, `outlier`, `replica`, `alert`, `drill`.
    package var source: String
    /// What happened, dotted: `config.applied`, `rollout.rolled_back`, `server.down`, …
    package var kind: String
    /// What it happened to: a server, an upstream, a config version.
    package var subject: String?
    package var message: String
    /// Facts a machine reads later (an alert's severity and runbook, a change's diff).
    package var details: [String: String]?

    package init(at: Date = Date(), source: String, kind: String, subject: String? = nil, message: String,
                details: [String: String]? = nil) {
        self.at = at
        self.source = source
        self.kind = kind
        self.subject = subject
        self.message = message
        self.details = details
    }
}

/// One config version as stored: who applied it, when, from which balancer, how it went, and its YAML.
package struct ConfigVersion: Sendable, Codable, Equatable {
    package var version: Int
    package var appliedAt: Date
    package var author: String
    /// `applied`, `rolled back: …`, `refused: …`.
    package var outcome: String
    package var source: String
    /// What the version changed, in `ballast diff`'s words.
    package var changes: [String]
    /// The balancer instance that applied it first.
    package var origin: String?

    package init(version: Int, appliedAt: Date = Date(), author: String, outcome: String, source: String,
                changes: [String] = [], origin: String? = nil) {
        self.version = version
        self.appliedAt = appliedAt
        self.author = author
        self.outcome = outcome
        self.source = source
        self.changes = changes
        self.origin = origin
    }

    package var isApplied: Bool { outcome == "applied" }
}

/// What `GET /api/v1/upstreams` answers.
package struct UpstreamsReport: Codable, Sendable {
    package struct ServerReport: Codable, Sendable {
        package var address: String
        package var weight: Int
        package var healthy: Bool
        package var ejected: Bool

        package init(address: String, weight: Int, healthy: Bool, ejected: Bool) {
            self.address = address
            self.weight = weight
            self.healthy = healthy
            self.ejected = ejected
        }
    }

    package struct UpstreamReport: Codable, Sendable {
        package var name: String
        package var balance: String
        package var servers: [ServerReport]

        package init(name: String, balance: String, servers: [ServerReport]) {
            self.name = name
            self.balance = balance
            self.servers = servers
        }
    }

    package var version: Int
    package var upstreams: [UpstreamReport]

    package init(version: Int, upstreams: [UpstreamReport]) {
        self.version = version
        self.upstreams = upstreams
    }
}

package struct AlertStatus: Sendable, Codable, Hashable {
    package enum State: String, Sendable, Codable { case inactive, pending, firing }

    package var name: String
    package var severity: AlertSeverity
    package var summary: String
    package var runbook: String
    package var labels: [String: String]
    package var state: State
    /// What is measured and against what, in words: "error_ratio of route 'auth' over 5s".
    package var condition: String
    /// The value at the last evaluation, as people read it ("12%", "no data").
    package var value: String
    /// When the condition started to hold (pending or firing).
    package var activeSince: Date?
    /// When the alert fired.
    package var firingSince: Date?
    /// When it last resolved.
    package var resolvedAt: Date?
    /// Stable id of the alert (its labels), as Alertmanager computes one.
    package var fingerprint: String

    package init(name: String, severity: AlertSeverity, summary: String, runbook: String, labels: [String: String], state: State,
                condition: String, value: String, activeSince: Date? = nil, firingSince: Date? = nil, resolvedAt: Date? = nil,
                fingerprint: String) {
        self.name = name
        self.severity = severity
        self.summary = summary
        self.runbook = runbook
        self.labels = labels
        self.state = state
        self.condition = condition
        self.value = value
        self.activeSince = activeSince
        self.firingSince = firingSince
        self.resolvedAt = resolvedAt
        self.fingerprint = fingerprint
    }
}

package struct Incident: Sendable, Codable, Equatable {
    package var id: Int
    package var openedAt: Date
    package var closedAt: Date?
    /// The alert that opened it (`ErrorRateHigh route=auth`).
    package var title: String
    /// Every page alert that opened or joined it, in order.
    package var alerts: [String]
    /// Those still firing (empty once closed).
    package var firing: [String]
    /// Why it closed when not by its alerts resolving (a restart).
    package var closeReason: String?

    package var isOpen: Bool { closedAt == nil }

    package init(id: Int, openedAt: Date, closedAt: Date? = nil, title: String, alerts: [String], firing: [String], closeReason: String? = nil) {
        self.id = id
        self.openedAt = openedAt
        self.closedAt = closedAt
        self.title = title
        self.alerts = alerts
        self.firing = firing
        self.closeReason = closeReason
    }
}

/// What a client posts to `POST /api/v1/events` to put a step of its own on the timeline.
package struct PostedEvent: Codable, Sendable {
    package var source: String?
    package var kind: String
    package var subject: String?
    package var message: String
    package var details: [String: String]?

    package init(source: String? = nil, kind: String, subject: String? = nil, message: String, details: [String: String]? = nil) {
        self.source = source
        self.kind = kind
        self.subject = subject
        self.message = message
        self.details = details
    }
}

/// The auth API's replies the drills read.
package enum AuthReplies {
    /// 200 from `POST /auth/login`.
    package struct Login: Codable, Sendable {
        package var token: String
        package var expires_at: String

        package init(token: String, expires_at: String) {
            self.token = token
            self.expires_at = expires_at
        }
    }
}

/// How the admin API writes JSON, and so how the CLI's `--format json` writes the same types.
package enum AdminJSON {
    /// Pretty-printed with sorted keys (`compact`: one line, for a stream of records).
    package static func encoder(compact: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = compact ? [.sortedKeys, .withoutEscapingSlashes] : [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = ISOTime.encoding
        return encoder
    }
}
