import ArgumentParser
import BallastConfig
import BallastProxy
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate config files: every finding as FILE:LINE:COL: severity: [ID] message.",
        discussion: """
            Exit 0 when clean (warnings allowed unless --strict), 1 on findings of severity error (or any \
            finding with --strict), 2 when a file is unusable or --explain names no rule. --preflight also \
            probes every server of a file that has no static error. --format sarif writes SARIF 2.1.0 for \
            code scanning; --explain BL0NN prints the rule's section of docs/rules.md.
            """)

    enum Format: String, ExpressibleByArgument { case text, json, sarif }

    @Argument(help: "Config files to check.") var files: [String] = []
    @Option(help: ArgumentHelp("Print what a rule checks, with its bad and good example, and exit.", valueName: "BL0NN")) var explain: String?
    @Flag(help: "Also connect to every server and probe its health check, as the balancer would.") var preflight = false
    @Flag(help: "Treat warnings as errors.") var strict = false
    @Option(help: "Output format: text, json or sarif (SARIF 2.1.0).") var format: Format = .text
    @Flag(help: "Also list the findings that `# ballast: ignore BL0NN reason` comments suppressed.") var showSuppressed = false

    func validate() throws {
        if explain == nil, files.isEmpty { throw ValidationError("name at least one config file, or a rule with --explain BL0NN") }
    }

    func run() async throws {
        if let id = explain {
            guard let section = RuleDocs.section(id.trimmingCharacters(in: .whitespaces)) else {
                let ids = LintCatalogue.allRules.map(\.id).sorted()
                printError("no rule '\(id)': the rules are \(ids.first ?? "")…\(ids.last ?? ""); `ballast check --explain BL018`, or docs/rules.md")
                throw ExitCode(2)
            }
            print(section, terminator: "")
            return
        }
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
        case .sarif:
            let code = unusable ? 2 : all.contains(where: { $0.severity == .error || strict }) ? 1 : 0
            print(try SARIF.json(SARIF.log(findings: all, suppressed: suppressed.map { ($0.0, $0.1) }, exitCode: code)))
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
