import BallastAPI
import BallastConfig
import BallastProxy
import Foundation
import GRDB
import Logging


/// Records events without ever blocking the caller for long: the data plane posts health flips
/// from its event loops, and a slow or failing database must not slow traffic, alerts or a
/// rollback. Writes go through one ordered background writer (see `TimelineWriter`).
package struct Timeline: TimelineStore {
    package let store: any TimelineStore
    let logger: Logger
    private let writer: TimelineWriter
    /// How long `record` waits for the store before leaving the write to the background.
    static let recordWait: Duration = .milliseconds(250)

    package init(store: any TimelineStore, logger: Logger = Logger(label: "ballast.timeline")) {
        self.store = store
        self.logger = logger
        writer = TimelineWriter(store: store, logger: logger)
    }

    /// Records `event` and waits briefly for it to be stored (control-plane callers that read
    /// it back); if the store is slow, the write finishes in the background, in order.
    package func record(_ event: TimelineEvent) async {
        let sequence = writer.enqueue(.event(event))
        guard sequence > 0 else { return }
        _ = await writer.waitStored(sequence, limit: Self.recordWait)
    }

    /// Records `event` in the background (data-plane and alert-engine callers).
    package func post(_ event: TimelineEvent) {
        writer.enqueue(.event(event))
    }

    /// Records one second of vital signs in the background.
    package func post(_ vitals: Vitals) {
        writer.enqueue(.vitals(vitals))
    }

    /// Stores an event through the writer (in order with everything else).
    package func append(_ event: TimelineEvent) async throws {
        await record(event)
    }

    package func appendVitals(_ vitals: Vitals) async throws {
        post(vitals)
    }

    package func vitals(from: Date, to: Date) async throws -> [Vitals] {
        try await store.vitals(from: from, to: to)
    }

    /// Events matching `query`: the stored ones and any still waiting to be written.
    package func events(_ query: EventQuery) async throws -> [TimelineEvent] {
        let pending = writer.pendingEvents().filter(query.matches)
        let stored = try await store.events(query)
        guard !pending.isEmpty else { return stored }
        // The item being written at this moment may be in both.
        var all = stored + pending.filter { event in !stored.contains { $0.at == event.at && $0.kind == event.kind && $0.message == event.message } }
        all = query.ordered(all)
        return Array(all.prefix(query.limit))
    }
}

extension TimelineEvent {
    /// A health flip or ejection the data plane noticed.
    package init(_ event: ProxyEvent, at date: Date = Date()) {
        switch event {
        case .serverHealth(let upstream, let server, let healthy, let reason):
            self.init(at: date, source: "health", kind: healthy ? "server.up" : "server.down", subject: "\(upstream)/\(server)",
                      message: "server \(server) of upstream '\(upstream)' is \(healthy ? "up" : "down"): \(reason)")
        case .serverEjected(let upstream, let server, let seconds):
            self.init(at: date, source: "outlier", kind: "server.ejected", subject: "\(upstream)/\(server)",
                      message: "server \(server) of upstream '\(upstream)' ejected for \(Int(seconds.rounded())) s after consecutive failures")
        case .upstreamOverflow(let upstream, let limit, let count):
            self.init(at: date, source: "proxy", kind: "upstream.overflow", subject: upstream,
                      message: "upstream '\(upstream)' is at its \(limit): \(count) request\(count == 1 ? "" : "s") waited or got 503",
                      details: ["limit": limit, "count": String(count)])
        case .certificateLoaded(let listener, let subject, let notAfter, let renewed):
            self.init(at: date, source: "tls", kind: renewed ? "tls.certificate_renewed" : "tls.certificate_loaded", subject: listener,
                      message: "listener '\(listener)' \(renewed ? "now serves a renewed" : "serves the") certificate \(subject), valid until \(ISOTime.format(notAfter))",
                      details: ["subject": subject, "not_after": ISOTime.format(notAfter)])
        }
    }
}
