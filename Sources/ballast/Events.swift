import ArgumentParser
import BallastAPI
import BallastConfig
import BallastControl
import Foundation
import NIOHTTP1

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The timeline of a running balancer: config changes, rollouts, health flips, ejections, replica exits.",
        discussion: """
            Pages through everything asked for (1,000 events a request). --follow prints what happens next until \
            interrupted; with --format json it writes one event per line.
            """)

    @Option(help: "How far back: a duration (10m, 2h) or an ISO 8601 time.") var since: String = "1h"
    @Option(help: "Up to: a duration back from now or an ISO 8601 time (default: now).") var until: String?
    @Option(help: "At most this many events (default: all).") var limit: Int?
    @Flag(help: "Newest first (with --limit: the newest N).") var newestFirst = false
    @Flag(help: "Keep printing new events as they are recorded.") var follow = false
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?

    /// Events a request asks for.
    static let pageSize = 1000

    func validate() throws {
        if follow && newestFirst { throw ValidationError("--follow prints events oldest first; drop --newest-first") }
        if follow && until != nil { throw ValidationError("--follow has no end; drop --until") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard Self.absolute(since) != nil else { throw ValidationError("--since '\(since)' is neither a duration (10m) nor an ISO 8601 time") }
        if let until, Self.absolute(until) == nil { throw ValidationError("--until '\(until)' is neither a duration nor an ISO 8601 time") }
    }

    /// A duration back from now, as a time, so every page asks for the same range.
    static func absolute(_ text: String, now: Date = Date()) -> String? {
        if let duration = Duration.parseConfig(text) { return ISOTime.format(now.addingTimeInterval(-Double(duration.milliseconds) / 1000)) }
        return ISOTime.parse(text) != nil ? text : nil
    }

    func run() async throws {
        let client = AdminClient(admin: admin)
        var range = "since=\(Self.encoded(Self.absolute(since)!))&order=\(newestFirst ? "newest" : "oldest")"
        if let until { range += "&until=\(Self.encoded(Self.absolute(until)!))" }
        var printed = 0
        var all: [TimelineEvent] = []
        var cursor: String?
        var followed = Followed()
        repeat {
            let want = min(Self.pageSize, limit.map { $0 - printed } ?? Self.pageSize)
            let page = try await fetch(client, range + "&limit=\(want)" + (cursor.map { "&after=\(Self.encoded($0))" } ?? ""))
            for event in page.events where followed.isNew(event) {
                if format == .json && !follow { all.append(event) } else { try emit(event) }
                printed += 1
            }
            cursor = page.next ?? cursor
            if page.events.count < want { break }
        } while limit.map { printed < $0 } ?? true
        if format == .json && !follow {
            try printJSON(AdminReplies.Events(events: all))
        } else if printed == 0 && !follow {
            say("no events since \(since)")
        }
        guard follow else { return }
        while true {
            try await Task.sleep(for: .seconds(1))
            let page = try await fetch(client, range + "&limit=\(Self.pageSize)" + (cursor.map { "&after=\(Self.encoded($0))" } ?? ""))
            for event in page.events where followed.isNew(event) { try emit(event) }
            cursor = page.next ?? cursor
        }
    }

    private func emit(_ event: TimelineEvent) throws {
        switch format {
        case .text: say("\(ISOTime.format(event.at))  \(event.kind)  \(event.message)")
        case .json: try printJSON(event, compact: true)
        }
    }

    private func fetch(_ client: AdminClient, _ query: String) async throws -> AdminReplies.Events {
        let reply = try await client.send(.GET, "/api/v1/events?\(query)")
        guard reply.status == 200, let events = reply.decode(AdminReplies.Events.self) else {
            printError("error: \(reply.status == 200 ? "the admin API's events do not read" : reply.message)")
            throw ExitCode(reply.status == 400 ? 2 : 1)
        }
        return events
    }

    private static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// What has been printed of events the balancer had not yet written (they have no id and
    /// come again, with one, once written): printed once.
    struct Followed {
        private var unwritten: [String: Int] = [:]

        private static func key(_ event: TimelineEvent) -> String {
            "\(event.at.timeIntervalSince1970)|\(event.kind)|\(event.subject ?? "")|\(event.message)"
        }

        mutating func isNew(_ event: TimelineEvent) -> Bool {
            let key = Self.key(event)
            if event.id == nil {
                if unwritten[key] != nil { return false }
                unwritten[key] = 1
                return true
            }
            return unwritten.removeValue(forKey: key) == nil
        }

    }
}
