import ArgumentParser
import BallastAPI
import BallastConfig
import BallastControl
import BallastProxy
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
    @Option(help: "Output format: text or json (the admin API's outcome, or its findings for an invalid file; the exit code is the same).")
    var format: OutputFormat = .text

    func run() async throws {
        if format == .json {
            switch ConfigLoader.load(file: file) {
            case .success(let loaded): return try await runForScripts(loaded.config.sourceText)
            case .failure(let error):
                try printJSON(AdminReplies.Findings(error: "invalid_config", findings: error.findings))
                throw ExitCode(2)
            }
        }
        let loaded = try loadConfigOrExit(file)
        let text = loaded.config.sourceText
        say("rolling out \(file): \(Int(loaded.config.rollout.canaryPercent))% canary, watching \(loaded.config.rollout.watch.configText)…")
        let client = AdminClient(admin: admin)
        let reply = try await client.send(.POST, "/api/v1/config?rollout=staged\(force ? "&force=true" : "")", body: text, timeout: .minutes(10))
        let outcome = reply.decode(RolloutController.Outcome.self)
        switch (reply.status, outcome?.outcome) {
        case (200, .promoted?):
            say("version \(outcome!.version) promoted after \(outcome!.seconds) s \(Self.traffic(outcome!))")
        case (409, .rolledBack?):
            say("version \(outcome!.version) ROLLED BACK after \(outcome!.seconds) s: \(outcome!.reason ?? "") \(Self.traffic(outcome!))")
            throw ExitCode(1)
        case (409, .refused?):
            printFindings(outcome!.findings)
            say("refused before any traffic moved: \(outcome!.reason ?? "")")
            throw ExitCode(1)
        case (422, _):
            printFindings(reply.decode(AdminReplies.Findings.self)?.findings ?? [])
            if let failure = reply.decode(AdminReplies.Failure.self) { printError("error: \(failure.message)") }
            throw ExitCode(2)
        default:
            printError("error: the admin API answered \(reply.status): \(reply.message)")
            throw ExitCode(1)
        }
    }

    /// `--format json`: the outcome as the admin API gave it, typed, and the same exit codes.
    private func runForScripts(_ text: String) async throws {
        let reply = try await AdminClient(admin: admin).send(.POST, "/api/v1/config?rollout=staged\(force ? "&force=true" : "")", body: text,
                                                             timeout: .minutes(10))
        if let outcome = reply.decode(RolloutController.Outcome.self), reply.status == 200 || reply.status == 409 {
            try printJSON(outcome)
            if outcome.outcome != .promoted { throw ExitCode(1) }
        } else if reply.status == 422, let findings = reply.decode(AdminReplies.Findings.self) {
            try printJSON(findings)
            throw ExitCode(2)
        } else {
            printError("error: the admin API answered \(reply.status): \(reply.message)")
            throw ExitCode(reply.status == 422 ? 2 : 1)
        }
    }

    static func traffic(_ outcome: RolloutController.Outcome) -> String {
        let sides = [("canary", outcome.canary), ("stable", outcome.stable)].compactMap { name, stats in
            stats.map { "\(name) \($0.requests) requests, \($0.errors) errors" }
        }
        return sides.isEmpty ? "" : "(\(sides.joined(separator: "; ")))"
    }
}

struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Return a running balancer to its previous applied config in one step.")

    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?

    func run() async throws {
        let reply = try await AdminClient(admin: admin).send(.POST, "/api/v1/config/rollback")
        guard reply.status == 200, let applied = reply.decode(AdminReplies.Applied.self) else {
            printError("error: \(reply.message)")
            throw ExitCode(1)
        }
        say("rolled back: version \(applied.version) is in force")
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every config version of a running balancer: when, who, outcome.")

    @Option(help: "Admin API URL (default $BALLAST_ADMIN or http://127.0.0.1:9900).") var admin: String?
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
        let reply = try await AdminClient(admin: admin).send(.GET, "/api/v1/config/history")
        guard reply.status == 200, let history = reply.decode(AdminReplies.History.self) else {
            printError("error: the admin API answered \(reply.status)")
            throw ExitCode(1)
        }
        if format == .json { return try printJSON(history) }
        for entry in history.versions {
            // A change refused before any traffic moved never got a version.
            say("\(entry.version > 0 ? "v\(entry.version)" : "-")  \(ISOTime.format(entry.appliedAt))  \(entry.author)  \(entry.outcome)")
            for change in entry.changes { say("      \(change)") }
        }
    }
}
