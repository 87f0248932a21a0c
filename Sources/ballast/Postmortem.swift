import ArgumentParser
import Foundation
import NIOHTTP1

struct Postmortem: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draft a postmortem of an incident from the timeline of a running balancer.",
        discussion: """
            INCIDENT is a number from GET /api/v1/incidents (default: the newest). With --out, the Markdown goes to FILE \
            and its chart to FILE with .svg in place of its extension, linked from the draft; without, the Markdown goes \
            to standard output.
            """)

    @Argument(help: "The incident number (default: the newest).") var incident: Int?
    @Option(help: "Write the draft here and its SVG chart beside it.") var out: String?
    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?

    func validate() throws {
        if let incident, incident < 1 { throw ValidationError("INCIDENT is a positive number, as GET /api/v1/incidents lists them") }
    }

    func run() async throws {
        let client = AdminClient(admin: admin)
        let id = incident.map(String.init) ?? "latest"
        guard let out else {
            say(try await fetch(client, "/api/v1/incidents/\(id)/postmortem"), terminator: "")
            return
        }
        let chartPath = ((out as NSString).deletingPathExtension) + ".svg"
        let chartName = (chartPath as NSString).lastPathComponent
        let markdown = try await fetch(client, "/api/v1/incidents/\(id)/postmortem?chart=\(chartName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? chartName)")
        let svg = try await fetch(client, "/api/v1/incidents/\(id)/chart.svg")
        do {
            try markdown.write(toFile: out, atomically: true, encoding: .utf8)
            try svg.write(toFile: chartPath, atomically: true, encoding: .utf8)
        } catch {
            printError("error: cannot write \(out): \(error.localizedDescription)")
            throw ExitCode(2)
        }
        say("wrote \(out) and \(chartPath)")
    }

    private func fetch(_ client: AdminClient, _ path: String) async throws -> String {
        let reply = try await client.send(.GET, path)
        guard reply.status == 200 else {
            printError("error: \(reply.message)")
            throw ExitCode(reply.status == 404 ? 1 : 2)
        }
        return String(decoding: reply.body, as: UTF8.self)
    }
}
