import ArgumentParser
import BallastConfig
import Foundation

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What a config change does to routes, upstreams and traffic shares, with its blast radius.",
        discussion: """
            Exit 0 with the changes printed; 1 with --fail-on when the change's impact reaches that level (for CI: \
            a change with a blast radius needs a reviewer's explicit approval); 2 when a file cannot be loaded.
            """)

    enum Level: String, ExpressibleByArgument { case low, high }
    enum Format: String, ExpressibleByArgument { case text, json }

    @Argument(help: "The config in force.") var old: String
    @Argument(help: "The config proposed.") var new: String
    @Option(help: "Output format: text or json.") var format: Format = .text
    @Option(help: "Exit 1 when the impact is at least this: low or high.") var failOn: Level?

    func run() async throws {
        let before = try loadConfigOrExit(old).config, after = try loadConfigOrExit(new).config
        let diff = ConfigDiff(old: before, new: after)
        switch format {
        case .json:
            struct Body: Encodable { var impact: ConfigDiff.Impact; var changes: [ConfigDiff.Change] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Body(impact: diff.impact, changes: diff.changes)), as: UTF8.self))
        case .text:
            guard !diff.isEmpty else {
                print("no changes")
                return
            }
            print("\(diff.changes.count) change\(diff.changes.count == 1 ? "" : "s"), impact \(diff.impact.rawValue)")
            for change in diff.changes {
                print("\(change.subject): \(change.description)")
                if let blast = change.blastRadius { print("  blast radius: \(blast)") }
            }
        }
        if let failOn, diff.impact >= (failOn == .high ? .high : .low) {
            printError("impact \(diff.impact.rawValue) reaches --fail-on \(failOn.rawValue)")
            throw ExitCode(1)
        }
    }
}
