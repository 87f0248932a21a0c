import Foundation

/// An inline suppression, `# ballast: ignore BL019 only the auth API is served here`, as gixy,
/// ShellCheck and ESLint have them: a deliberate exception that `--strict` accepts.
///
/// At the end of a line it covers that line and, when the line opens a block (a mapping key or
/// a list item), every line of the block. Alone on a line it covers the next line the same way.
/// A reason is required; only warnings can be suppressed (an error makes a config unusable).
package struct Suppression: Sendable, Hashable, Codable {
    package var rule: String
    package var reason: String
    /// Where the comment is.
    package var line: Int
    package var column: Int
    /// The lines it covers.
    package var firstLine: Int
    package var lastLine: Int

    package func covers(_ finding: Finding, file: String) -> Bool {
        guard finding.ruleID == rule, finding.severity == .warning, let at = finding.location, at.file == file else { return false }
        return (firstLine...lastLine).contains(at.line)
    }
}

package enum Suppressions {
    /// Rules whose findings come from files or servers outside the loader (TLS files, runbooks,
    /// preflight): only `ballast check` sees them, so only it can tell a stale suppression of one.
    package static var laterRules: Set<String> {
        Set((Rule.tlsRules + Rule.runbookRules + Rule.preflightRules + [.runbookMissing]).map(\.id))
    }

    /// Every suppression in `text`, and a finding for each one that cannot apply (no reason,
    /// an unknown rule, a rule of severity error).
    package static func parse(_ text: String, file: String) -> (suppressions: [Suppression], findings: [Finding]) {
        guard text.contains("ballast:") else { return ([], []) }
        let lines = text.components(separatedBy: "\n")
        let pattern = try! NSRegularExpression(pattern: #"#\s*ballast:\s*ignore\b\s*(\S*)\s*(.*)$"#)
        let severities = Dictionary(LintCatalogue.allRules.map { ($0.id, $0.severity) } + [(Rule.staleSuppression.id, .warning)]) { a, _ in a }
        var suppressions: [Suppression] = [], findings: [Finding] = []
        for (index, line) in lines.enumerated() {
            guard let match = pattern.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)),
                  let whole = Range(match.range, in: line), let ruleRange = Range(match.range(at: 1), in: line),
                  let reasonRange = Range(match.range(at: 2), in: line) else { continue }
            let number = index + 1
            let column = line.distance(from: line.startIndex, to: whole.lowerBound) + 1
            let at = SourceLocation(file: file, line: number, column: column)
            let rule = String(line[ruleRange])
            let reason = line[reasonRange].trimmingCharacters(in: .whitespaces)
            guard let severity = severities[rule] else {
                findings.append(Finding(rule: .badSuppression, message: "suppression names '\(rule)', which is not a rule id", at: at,
                                        fix: "write `# ballast: ignore BL0NN why`, with an id from `ballast check --explain` or docs/rules.md"))
                continue
            }
            guard severity == .warning else {
                findings.append(Finding(rule: .badSuppression, message: "\(rule) is an error and cannot be suppressed: the config would not work", at: at,
                                        fix: "fix what \(rule) reports"))
                continue
            }
            guard !reason.isEmpty else {
                findings.append(Finding(rule: .badSuppression, message: "suppression of \(rule) gives no reason, so it is not applied", at: at,
                                        fix: "say why the exception is deliberate: `# ballast: ignore \(rule) REASON`"))
                continue
            }
            let alone = line[..<whole.lowerBound].trimmingCharacters(in: .whitespaces).isEmpty
            var target = index
            if alone {
                guard let next = lines.indices.dropFirst(index + 1).first(where: { !isBlankOrComment(lines[$0]) }) else { continue }
                target = next
            }
            suppressions.append(Suppression(rule: rule, reason: reason, line: number, column: column,
                                            firstLine: target + 1, lastLine: blockEnd(lines, from: target) + 1))
        }
        return (suppressions, findings)
    }

    /// Splits `findings` into those still reported and those suppressed; `used` collects the
    /// suppressions that matched.
    package static func apply(_ suppressions: [Suppression], file: String, to findings: [Finding],
                             used: inout Set<Suppression>) -> (kept: [Finding], suppressed: [Finding]) {
        guard !suppressions.isEmpty else { return (findings, []) }
        var kept: [Finding] = [], suppressed: [Finding] = []
        for finding in findings {
            if let suppression = suppressions.first(where: { $0.covers(finding, file: file) }) {
                used.insert(suppression)
                suppressed.append(finding)
            } else {
                kept.append(finding)
            }
        }
        return (kept, suppressed)
    }

    /// A finding for each suppression among `suppressions` that matched nothing.
    package static func stale(_ suppressions: [Suppression], used: Set<Suppression>, file: String) -> [Finding] {
        suppressions.filter { !used.contains($0) }.map { suppression in
            Finding(rule: .staleSuppression,
                    message: "suppression of \(suppression.rule) matches no finding here (\(suppression.reason)); the rule no longer fires",
                    at: SourceLocation(file: file, line: suppression.line, column: suppression.column),
                    fix: "remove the comment")
        }
    }

    private static func indent(_ line: String) -> Int { line.prefix { $0 == " " }.count }

    private static func isBlankOrComment(_ line: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty || trimmed.hasPrefix("#")
    }

    /// The last line (0-based) of the block that line `start` opens: the following lines
    /// indented deeper than it (a list item's keys are deeper than its dash).
    private static func blockEnd(_ lines: [String], from start: Int) -> Int {
        let base = indent(lines[start])
        var end = start
        for index in lines.indices.dropFirst(start + 1) {
            if isBlankOrComment(lines[index]) { continue }
            if indent(lines[index]) <= base { break }
            end = index
        }
        return end
    }
}
