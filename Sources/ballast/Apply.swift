import ArgumentParser
import BallastConfig
import Foundation
import NIOCore
import NIOHTTP1

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Roll a config out to a running balancer: validate, preflight, canary, watch, then promote or roll back.",
        discussion: "Waits for the outcome. Exit 0 promoted, 1 refused or rolled back, 2 invalid config or admin API unreachable.")

    @Argument(help: "The config file to roll out.") var file: String
    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?
    @Flag(help: "Skip the preflight probe (never the watch).") var force = false

    func run() async throws {
        let loaded = try loadConfigOrExit(file)
        let text = loaded.config.sourceText
        say("rolling out \(file): \(Int(loaded.config.rollout.canaryPercent))% canary, watching \(loaded.config.rollout.watch.configText)…")
        let client = AdminClient(admin: admin)
        let reply = try await client.send(.POST, "/api/v1/config?rollout=staged\(force ? "&force=true" : "")", body: text, timeout: .minutes(10))
        let json = reply.json
        switch reply.status {
        case 200:
            say("version \(json["version"] ?? "?") promoted after \(json["seconds"] ?? "?") s \(Self.traffic(json))")
        case 409 where json["outcome"] as? String == "rolled_back":
            say("version \(json["version"] ?? "?") ROLLED BACK after \(json["seconds"] ?? "?") s: \(json["reason"] ?? "") \(Self.traffic(json))")
            throw ExitCode(1)
        case 409 where json["outcome"] as? String == "refused":
            printFindings(json)
            say("refused before any traffic moved: \(json["reason"] ?? "")")
            throw ExitCode(1)
        case 422:
            printFindings(json)
            if let message = json["message"] as? String { printError("error: \(message)") }
            throw ExitCode(2)
        default:
            printError("error: the admin API answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
            throw ExitCode(1)
        }
    }

    static func traffic(_ json: [String: Any]) -> String {
        func side(_ name: String) -> String {
            guard let stats = json[name] as? [String: Any] else { return "" }
            return "\(name) \(stats["requests"] ?? 0) requests, \(stats["errors"] ?? 0) errors"
        }
        let sides = [side("canary"), side("stable")].filter { !$0.isEmpty }
        return sides.isEmpty ? "" : "(\(sides.joined(separator: "; ")))"
    }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Return a running balancer to its previous applied config in one step.")

    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?

    func run() async throws {
        let reply = try await AdminClient(admin: admin).send(.POST, "/api/v1/config/rollback")
        guard reply.status == 200 else {
            printError("error: \(reply.json["message"] ?? String(decoding: reply.body, as: UTF8.self))")
            throw ExitCode(1)
        }
        say("rolled back: version \(reply.json["version"] ?? "?") is in force")
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every config version of a running balancer: when, who, outcome.")

    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?

    func run() async throws {
        let reply = try await AdminClient(admin: admin).send(.GET, "/api/v1/config/history")
        guard reply.status == 200 else {
            printError("error: the admin API answered \(reply.status)")
            throw ExitCode(1)
        }
        for entry in reply.json["versions"] as? [[String: Any]] ?? [] {
            // A change refused before any traffic moved never got a version.
            let version = (entry["version"] as? Int).map { $0 > 0 ? "v\($0)" : "-" } ?? "?"
            say("\(version)  \(entry["appliedAt"] ?? "")  \(entry["author"] ?? "")  \(entry["outcome"] ?? "")")
            for change in entry["changes"] as? [String] ?? [] { say("      \(change)") }
        }
    }
}
