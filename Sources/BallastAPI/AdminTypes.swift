import BallastConfig
import Foundation

// The types the admin API and the auth API speak, shared by the server, the CLI and the drills.

/// The admin API's replies as types, in one place: the server (`BallastControl`) encodes them,
/// and the CLI and the drills decode them (`AdminReplies.decode`), so none can disagree on a key. Times are ISO 8601 with
/// milliseconds (`ISOTime`).
public enum AdminReplies {
    /// Any refusal: `{"error": code, "message": text}`.
    public struct Failure: Codable, Sendable {
        public var error: String
        public var message: String

        public init(error: String, message: String) {
            self.error = error
            self.message = message
        }
    }

    /// 422 `invalid_config` (and a refused rollout's findings): every finding, errors first.
    public struct Findings: Codable, Sendable {
        public var error: String
        public var findings: [Finding]

        public init(error: String, findings: [Finding]) {
            self.error = error
            self.findings = findings
        }
    }

    /// 200 from `POST /api/v1/config` and `/config/rollback`.
    public struct Applied: Codable, Sendable {
        public var version: Int
        public var warnings: [Finding]

        public init(version: Int, warnings: [Finding]) {
            self.version = version
            self.warnings = warnings
        }
    }

    /// `GET /api/v1/config/history`: oldest first.
    public struct History: Codable, Sendable {
        public var versions: [ConfigVersion]

        public init(versions: [ConfigVersion]) {
            self.versions = versions
        }
    }

    /// `GET /api/v1/events`.
    public struct Events: Codable, Sendable {
        public var events: [TimelineEvent]

        public init(events: [TimelineEvent]) {
            self.events = events
        }
    }

    /// `GET /api/v1/alerts`: every rule with its state.
    public struct Alerts: Codable, Sendable {
        public var alerts: [AlertStatus]

        public init(alerts: [AlertStatus]) {
            self.alerts = alerts
        }
    }

    /// `GET /api/v1/incidents`: newest first.
    public struct Incidents: Codable, Sendable {
        public var incidents: [Incident]

        public init(incidents: [Incident]) {
            self.incidents = incidents
        }
    }

    /// Any reply, read as `type`; nil when the body is not one (an answer from something else).
    public static func decode<T: Decodable>(_ type: T.Type, from body: Data) -> T? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        return try? decoder.decode(type, from: body)
    }
}

/// Something that happened to the stack, with when and where it came from.
public struct TimelineEvent: Sendable, Codable, Equatable {
    public var id: Int64?
    public var at: Date
    /// Who recorded it: `config`, `rollout`, `health`, `outlier`, `replica`, `alert`, `drill`.
    public var source: String
    /// What happened, dotted: `config.applied`, `rollout.rolled_back`, `server.down`, …
    public var kind: String
    /// What it happened to: a server, an upstream, a config version.
    public var subject: String?
    public var message: String
    /// Facts a machine reads later (an alert's severity and runbook, a change's diff).
    public var details: [String: String]?

    public init(at: Date = Date(), source: String, kind: String, subject: String? = nil, message: String,
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
public struct ConfigVersion: Sendable, Codable, Equatable {
    public var version: Int
    public var appliedAt: Date
    public var author: String
    /// `applied`, `rolled back: …`, `refused: …`.
    public var outcome: String
    public var source: String
    /// What the version changed, in `ballast diff`'s words.
    public var changes: [String]
    /// The balancer instance that applied it first.
    public var origin: String?

    public init(version: Int, appliedAt: Date = Date(), author: String, outcome: String, source: String,
                changes: [String] = [], origin: String? = nil) {
        self.version = version
        self.appliedAt = appliedAt
        self.author = author
        self.outcome = outcome
        self.source = source
        self.changes = changes
        self.origin = origin
    }

    public var isApplied: Bool { outcome == "applied" }
}

/// What `GET /api/v1/upstreams` answers.
public struct UpstreamsReport: Codable, Sendable {
    public struct ServerReport: Codable, Sendable {
        public var address: String
        public var weight: Int
        public var healthy: Bool
        public var ejected: Bool

        public init(address: String, weight: Int, healthy: Bool, ejected: Bool) {
            self.address = address
            self.weight = weight
            self.healthy = healthy
            self.ejected = ejected
        }
    }

    public struct UpstreamReport: Codable, Sendable {
        public var name: String
        public var balance: String
        public var servers: [ServerReport]

        public init(name: String, balance: String, servers: [ServerReport]) {
            self.name = name
            self.balance = balance
            self.servers = servers
        }
    }

    public var version: Int
    public var upstreams: [UpstreamReport]

    public init(version: Int, upstreams: [UpstreamReport]) {
        self.version = version
        self.upstreams = upstreams
    }
}

public struct AlertStatus: Sendable, Codable, Hashable {
    public enum State: String, Sendable, Codable { case inactive, pending, firing }

    public var name: String
    public var severity: AlertSeverity
    public var summary: String
    public var runbook: String
    public var labels: [String: String]
    public var state: State
    /// What is measured and against what, in words: "error_ratio of route 'auth' over 5s".
    public var condition: String
    /// The value at the last evaluation, as people read it ("12%", "no data").
    public var value: String
    /// When the condition started to hold (pending or firing).
    public var activeSince: Date?
    /// When the alert fired.
    public var firingSince: Date?
    /// When it last resolved.
    public var resolvedAt: Date?
    /// Stable id of the alert (its labels), as Alertmanager computes one.
    public var fingerprint: String

    public init(name: String, severity: AlertSeverity, summary: String, runbook: String, labels: [String: String], state: State,
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

public struct Incident: Sendable, Codable, Equatable {
    public var id: Int
    public var openedAt: Date
    public var closedAt: Date?
    /// The alert that opened it (`ErrorRateHigh route=auth`).
    public var title: String
    /// Every page alert that opened or joined it, in order.
    public var alerts: [String]
    /// Those still firing (empty once closed).
    public var firing: [String]
    /// Why it closed when not by its alerts resolving (a restart).
    public var closeReason: String?

    public var isOpen: Bool { closedAt == nil }

    public init(id: Int, openedAt: Date, closedAt: Date? = nil, title: String, alerts: [String], firing: [String], closeReason: String? = nil) {
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
public struct PostedEvent: Codable, Sendable {
    public var source: String?
    public var kind: String
    public var subject: String?
    public var message: String
    public var details: [String: String]?

    public init(source: String? = nil, kind: String, subject: String? = nil, message: String, details: [String: String]? = nil) {
        self.source = source
        self.kind = kind
        self.subject = subject
        self.message = message
        self.details = details
    }
}

/// The auth API's replies the drills read.
public enum AuthReplies {
    /// 200 from `POST /auth/login`.
    public struct Login: Codable, Sendable {
        public var token: String
        public var expires_at: String

        public init(token: String, expires_at: String) {
            self.token = token
            self.expires_at = expires_at
        }
    }
}
