import ArgumentParser
import BallastConfig
import BallastProxy
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate config files: every finding as FILE:LINE:COL: severity: [ID] message.",
        discussion: """
            Exit 0 when clean (warnings allowed unless --strict), 1 on findings of severity error, 2 when a file is unusable.             --preflight also probes every server of a file that has no static error.
            """)

    enum Format: String, ExpressibleByArgument { case text, json }

    @Argument(help: "Config files to check.") var files: [String]
    @Flag(help: "Also connect to every server and probe its health check, as the balancer would.") var preflight = false
    @Flag(help: "Treat warnings as errors.") var strict = false
    @Option(help: "Output format: text or json.") var format: Format = .text
    @Flag(help: "Also list the findings that `# ballast: ignore BL0NN reason` comments suppressed.") var showSuppressed = false

    func run() async throws {
        var all: [Finding] = []
        var suppressed: [(Finding, String)] = []
        var unusable = false
        for file in files {
            switch ConfigLoader.load(file: file) {
            case .success(var loaded):
                all += loaded.warnings
                let files = TLSCheck.check(loaded.config) + RunbookCheck.check(loaded.config) + RunbookReview.check(loaded.config)
                all += loaded.suppress(files)
                if preflight { all += loaded.suppress(await Preflight.run(loaded.config)) }
                // A suppression of a preflight rule can only be judged stale when the preflight ran.
                all += loaded.staleLaterSuppressions(skipping: preflight ? [] : Set(Rule.preflightRules.map(\.id)))
                suppressed += loaded.suppressed.map { finding in
                    (finding, loaded.suppressions.first { $0.covers(finding, file: loaded.config.sourceFile) }?.reason ?? "")
                }
            case .failure(let error):
                all += error.findings
                if error.findings.contains(where: { [Rule.yamlSyntax.id, Rule.unreadableFile.id, Rule.configTooLarge.id].contains($0.ruleID) }) {
                    unusable = true
                }
            }
        }
        switch format {
        case .text:
            for finding in all { print(finding) }
            if showSuppressed {
                for (finding, reason) in suppressed { print("\(finding) [suppressed: \(reason)]") }
            }
            let errors = all.count { $0.severity == .error }
            let warnings = all.count - errors
            let note = suppressed.isEmpty ? "" : " (\(suppressed.count) suppressed)"
            if all.isEmpty {
                print("\(files.count == 1 ? files[0] : "\(files.count) files"): ok\(note)")
            } else {
                print("\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")\(note)")
            }
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(CheckReport(findings: all, suppressed: suppressed.map { SuppressedFinding(finding: $0.0, reason: $0.1) })), as: UTF8.self))
        }
        if unusable { throw ExitCode(2) }
        if all.contains(where: { $0.severity == .error || strict }) { throw ExitCode(1) }
    }
}

struct SuppressedFinding: Encodable {
    var finding: Finding
    var reason: String
}

struct CheckReport: Encodable {
    var findings: [Finding]
    var suppressed: [SuppressedFinding]
}
