import ArgumentParser
import BallastDrill
import Foundation

struct Drill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Game days: replay an incident against a throwaway stack under load and score the response.",
        subcommands: [List.self, Run.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The scenarios, with their targets.")

        func run() async throws {
            for scenario in Scenario.all {
                let targets = scenario.targets
                say("\(scenario.name.padding(toLength: 24, withPad: " ", startingAt: 0))\(scenario.summary)")
                say(String(repeating: " ", count: 24) + String(format: "targets: detect ≤ %.0f s, recover ≤ %.0f s", targets.detectSeconds, targets.recoverSeconds)
                    + (targets.failedPercent.map { String(format: ", < %g%% failed", $0) } ?? "") + ", \(targets.sessionsLost) sessions lost")
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one scenario; writes report.md, result.json, postmortem.md and timeline.svg to --out.",
            discussion: "Exit 0 when every score met its target, 1 when one missed, 2 on bad usage or a stack that would not start.")

        @Argument(help: "The scenario (ballast drill list).") var scenario: String
        @Option(help: "Where the report goes (default ./drills/SCENARIO-TIMESTAMP).") var out: String?
        @Option(help: "Virtual users.") var users: Int = 20
        @Option(help: "Output format: text, or json (the scores as result.json has them; progress goes to stderr).") var format: OutputFormat = .text
        @Option(help: "Seconds of load before the fault.") var warmup: Int = 8
        @Option(help: "For postgres-away: a file (mode 0600) holding a postgres:// URL of a server the drill may use (it creates a schema of its own); or set $BALLAST_DRILL_POSTGRES.")
        var postgresFile: String?

        func validate() throws {
            guard Scenario.named(scenario) != nil else {
                throw ValidationError("unknown scenario '\(scenario)'; one of: \(Scenario.all.map(\.name).joined(separator: ", "))")
            }
            guard (1...500).contains(users) else { throw ValidationError("--users must be between 1 and 500") }
            guard (1...600).contains(warmup) else { throw ValidationError("--warmup must be between 1 and 600 seconds") }
        }

        func run() async throws {
            let scenario = Scenario.named(self.scenario)!
            let stamp = Date().formatted(.iso8601).replacingOccurrences(of: ":", with: "")
            let directory = URL(fileURLWithPath: out ?? "drills/\(scenario.name)-\(stamp)")
            var runner = DrillRunner(scenario: scenario, executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(),
                                     out: directory)
            runner.users = users
            runner.warmup = .seconds(warmup)
            do {
                runner.postgres = try SecretURL.resolve(flag: nil, flagName: "--postgres", file: postgresFile, variable: "BALLAST_DRILL_POSTGRES")
            } catch {
                printError("error: \(error)")
                throw ExitCode(2)
            }
            if format == .json {
                runner.progress = { line in printError(line) }
            } else {
                runner.progress = { line in say(line) }
            }
            let result: DrillResult
            do {
                result = try await runner.run()
            } catch {
                printError("error: the drill could not run: \(error)")
                throw ExitCode(2)
            }
            if format == .json {
                try printJSON(DrillSummary(result))
                if !result.passed { throw ExitCode(1) }
                return
            }
            say("")
            say("\(scenario.name): \(result.passed ? "passed" : "MISSED")")
            say(DrillReport(result: result).summary())
            say("report: \(directory.path)/report.md, postmortem: \(directory.path)/postmortem.md, chart: \(directory.path)/timeline.svg")
            if !result.passed { throw ExitCode(1) }
        }
    }
}
