import ArgumentParser
import BallastConfig
import Foundation

@main
struct Ballast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ballast",
        abstract: "A load balancer that cannot be quietly misconfigured into an outage.",
        discussion: "Exit codes: 0 success, 1 the command ran and found a problem, 2 bad usage or input.",
        version: BuildInfo.line,
        subcommands: [Up.self, LB.self, Auth.self, Check.self, Diff.self, Apply.self, Rollback.self, History.self, Events.self, Status.self, Alerts.self, Postmortem.self, Drill.self, Docs.self]
    )

    /// ArgumentParser exits 64 on bad usage; Ballast's contract says 2 everywhere.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
