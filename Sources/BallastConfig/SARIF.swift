import Foundation

/// `ballast check --format sarif`: findings as a SARIF 2.1.0 log, which GitHub code scanning,
/// GitLab, Azure DevOps and editors' SARIF viewers read. Every rule of the catalogue is listed
/// with its docs/rules.md section as help; suppressed findings are results with an in-source
/// suppression and its reason, as the format intends, so a viewer shows them as accepted.
package enum SARIF {
    package static let schema = "https://json.schemastore.org/sarif-2.1.0.json"

    package static func log(findings: [Finding], suppressed: [(finding: Finding, reason: String)],
                           rules: [Rule] = LintCatalogue.allRules, exitCode: Int) -> Log {
        var catalogue = rules
        for finding in findings + suppressed.map(\.finding) where !catalogue.contains(where: { $0.id == finding.ruleID }) {
            catalogue.append(Rule(id: finding.ruleID, severity: finding.severity, title: finding.ruleID))
        }
        let index = Dictionary(catalogue.enumerated().map { ($1.id, $0) }) { a, _ in a }
        let results = findings.map { result($0, index: index, suppression: nil) }
            + suppressed.map { result($0.finding, index: index, suppression: $0.reason) }
        let driver = Driver(
            name: "ballast", version: BuildInfo.version, semanticVersion: BuildInfo.version,
            rules: catalogue.map(descriptor))
        return Log(runs: [Run(tool: Tool(driver: driver), results: results,
                              invocations: [Invocation(executionSuccessful: exitCode != 2, exitCode: exitCode)])])
    }

    package static func json(_ log: Log) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(log), as: UTF8.self)
    }

    static func descriptor(_ rule: Rule) -> ReportingDescriptor {
        let section = RuleDocs.section(rule.id)
        return ReportingDescriptor(
            id: rule.id, name: camelName(rule.title),
            shortDescription: Text(text: rule.title),
            fullDescription: RuleDocs.summary(rule.id).map { Text(text: $0) },
            help: section.map { Help(text: rule.fix.map { "Fix: \($0)" } ?? rule.title, markdown: $0) },
            defaultConfiguration: Configuration(level: level(rule.severity)))
    }

    static func result(_ finding: Finding, index: [String: Int], suppression reason: String?) -> Result {
        let text = finding.fix.map { "\(finding.message); fix: \($0)" } ?? finding.message
        let locations = finding.location.map { at in
            [Location(physicalLocation: PhysicalLocation(
                artifactLocation: ArtifactLocation(uri: uri(at.file)),
                region: at.line > 0 ? Region(startLine: at.line, startColumn: max(1, at.column)) : nil))]
        }
        return Result(ruleId: finding.ruleID, ruleIndex: index[finding.ruleID] ?? 0, level: level(finding.severity),
                      message: Text(text: text), locations: locations ?? [],
                      suppressions: reason.map { [Suppression(kind: "inSource", justification: $0)] })
    }

    static func level(_ severity: Severity) -> String { severity == .error ? "error" : "warning" }

    /// A relative path stays a relative URI reference (code scanning resolves it against the
    /// checkout); an absolute one becomes a file: URI. Both are percent-encoded.
    static func uri(_ path: String) -> String {
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: ":"))) ?? path
        return path.hasPrefix("/") ? "file://\(encoded)" : encoded
    }

    /// `route shadowed by an earlier route` → `RouteShadowedByAnEarlierRoute`.
    static func camelName(_ title: String) -> String {
        title.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    package struct Log: Encodable {
        package var schema = SARIF.schema
        package var version = "2.1.0"
        package var runs: [Run]
        enum CodingKeys: String, CodingKey { case schema = "$schema", version, runs }
    }
    package struct Run: Encodable { var tool: Tool; var results: [Result]; var invocations: [Invocation] }
    struct Tool: Encodable { var driver: Driver }
    struct Driver: Encodable {
        var name: String, version: String, semanticVersion: String
        var rules: [ReportingDescriptor]
    }
    struct ReportingDescriptor: Encodable {
        var id: String, name: String
        var shortDescription: Text
        var fullDescription: Text?
        var help: Help?
        var defaultConfiguration: Configuration
    }
    struct Text: Encodable { var text: String }
    struct Help: Encodable { var text: String; var markdown: String }
    struct Configuration: Encodable { var level: String }
    struct Invocation: Encodable { var executionSuccessful: Bool; var exitCode: Int }
    package struct Result: Encodable {
        var ruleId: String, ruleIndex: Int, level: String
        var message: Text
        var locations: [Location]
        var suppressions: [Suppression]?
    }
    struct Location: Encodable { var physicalLocation: PhysicalLocation }
    struct PhysicalLocation: Encodable { var artifactLocation: ArtifactLocation; var region: Region? }
    struct ArtifactLocation: Encodable { var uri: String }
    struct Region: Encodable { var startLine: Int; var startColumn: Int }
    struct Suppression: Encodable { var kind: String; var justification: String }
}
