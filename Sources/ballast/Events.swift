import ArgumentParser
import BallastAPI
import BallastConfig
import BallastControl
import Foundation
import NIOHTTP1

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The timeline of a running balancer: config changes, rollouts, health flips, ejections, replica exits.")

    @Option(help: "How far back: a duration (10m, 2h) or an ISO 8601 time.") var since: String = "1h"
    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?

    func run() async throws {
        let query = since.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? since
        let reply = try await AdminClient(admin: admin).send(.GET, "/api/v1/events?since=\(query)")
        guard reply.status == 200, let events = reply.decode(AdminReplies.Events.self)?.events else {
            printError("error: \(reply.status == 200 ? "the admin API's events do not read" : reply.message)")
            throw ExitCode(reply.status == 400 ? 2 : 1)
        }
        if events.isEmpty { say("no events since \(since)") }
        for event in events {
            say("\(ISOTime.format(event.at))  \(event.kind)  \(event.message)")
        }
    }
}
