import BallastProxy
import Foundation
import GRDB
import Logging

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

/// Records events without ever blocking the caller: the data plane posts health flips from
/// its event loops, and a slow or failing database must not slow traffic.
public struct Timeline: Sendable {
    public let store: any TimelineStore
    let logger: Logger

    public init(store: any TimelineStore, logger: Logger = Logger(label: "ballast.timeline")) {
        self.store = store
        self.logger = logger
    }

    /// Records `event` and waits for it (control-plane callers).
    public func record(_ event: TimelineEvent) async {
        do {
            try await store.append(event)
        } catch {
            logger.error("timeline event not stored", metadata: ["kind": .string(event.kind), "error": "\(error)"])
        }
    }

    /// Records `event` in the background (data-plane callers).
    public func post(_ event: TimelineEvent) {
        let timeline = self
        Task { await timeline.record(event) }
    }
}

extension TimelineEvent {
    /// A health flip or ejection the data plane noticed.
    public init(_ event: ProxyEvent, at date: Date = Date()) {
        switch event {
        case .serverHealth(let upstream, let server, let healthy, let reason):
            self.init(at: date, source: "health", kind: healthy ? "server.up" : "server.down", subject: "\(upstream)/\(server)",
                      message: "server \(server) of upstream '\(upstream)' is \(healthy ? "up" : "down"): \(reason)")
        case .serverEjected(let upstream, let server, let seconds):
            self.init(at: date, source: "outlier", kind: "server.ejected", subject: "\(upstream)/\(server)",
                      message: "server \(server) of upstream '\(upstream)' ejected for \(Int(seconds.rounded())) s after consecutive failures")
        }
    }
}
