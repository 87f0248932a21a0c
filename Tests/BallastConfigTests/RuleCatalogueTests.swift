import Foundation
import Testing
@testable import BallastConfig

/// The examples of docs/rules.md are the fixtures: a bad example must produce its rule, a good
/// one must not, and every rule of the catalogue has a section.
@Suite struct RuleCatalogueTests {
    struct Example: Sendable, CustomStringConvertible {
        var rule: String
        var bad: Bool
        var yaml: String
        var description: String { "\(rule) \(bad ? "bad" : "good")" }
    }

    static let docs: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("docs/rules.md"), encoding: .utf8)) ?? ""
    }()

    static let examples: [Example] = {
        var examples: [Example] = []
        var current: (String, Bool)?
        var lines: [String] = []
        for line in docs.components(separatedBy: "\n") {
            if line.hasPrefix("```yaml ") {
                let parts = line.dropFirst(8).split(separator: " ")
                current = (String(parts[0]), parts[1] == "bad")
                lines = []
            } else if line == "```", let (rule, bad) = current {
                examples.append(Example(rule: rule, bad: bad, yaml: lines.joined(separator: "\n") + "\n"))
                current = nil
            } else if current != nil {
                lines.append(line)
            }
        }
        return examples
    }()

    @Test func everyRuleIsDocumented() {
        #expect(!Self.docs.isEmpty)
        for rule in LintCatalogue.allRules {
            #expect(Self.docs.contains("## \(rule.id) — \(rule.title)"), "\(rule.id) has no section in docs/rules.md")
        }
        // Rules about files (an unreadable config, TLS files, runbooks) and live servers have no YAML fixture.
        let withoutFixture = Set([Rule.unreadableFile, Rule.runbookMissing] + Rule.tlsRules + Rule.preflightRules + Rule.runbookRules)
        let withFixture = LintCatalogue.allRules.filter { !withoutFixture.contains($0) }
        for rule in withFixture {
            #expect(Self.examples.contains { $0.rule == rule.id && $0.bad }, "\(rule.id) has no bad example")
            #expect(Self.examples.contains { $0.rule == rule.id && !$0.bad }, "\(rule.id) has no good example")
        }
    }

    @Test(arguments: examples)
    func exampleBehavesAsDocumented(example: Example) {
        let ids = allFindings(example.yaml).map(\.ruleID)
        if example.bad {
            #expect(ids.contains(example.rule), "bad example of \(example.rule) gave \(ids)")
        } else {
            #expect(!ids.contains(example.rule), "good example of \(example.rule) gave \(ids)")
            #expect(!allFindings(example.yaml).contains { $0.severity == .error }, "good example of \(example.rule) has errors: \(allFindings(example.yaml))")
        }
    }

    /// What each rule's section says it points at (`Points at: …` after its severity).
    static let pointsAt: [String: String] = {
        var result: [String: String] = [:]
        let pattern = try! NSRegularExpression(pattern: #"## (BL\d{3}) — [^\n]*\n\nSeverity: \w+\. Points at: ([^\n]+)"#)
        for match in pattern.matches(in: docs, range: NSRange(docs.startIndex..., in: docs)) {
            guard let id = Range(match.range(at: 1), in: docs), let text = Range(match.range(at: 2), in: docs) else { continue }
            result[String(docs[id])] = String(docs[text])
        }
        return result
    }()

    /// The key a section points at, when it starts with one in backticks.
    static func pointedKey(_ id: String) -> String? {
        guard let text = pointsAt[id], text.hasPrefix("`"), let end = text.dropFirst().firstIndex(of: "`") else { return nil }
        return String(text[text.index(after: text.startIndex)..<end])
    }

    /// Every rule says what it points at; every rule that points at a key (every lint rule
    /// does) has its bad example's findings on that key: the line holds the key and the column
    /// is at or after it (the value, or the key of a block).
    @Test func everyRuleNamesAndPointsAtTheNodeToChange() {
        for rule in LintCatalogue.allRules {
            #expect(Self.pointsAt[rule.id] != nil, "\(rule.id) has no `Points at:` in docs/rules.md")
        }
        let lintIDs = Set(LintCatalogue.rules.map { $0.rule.id })
        for rule in LintCatalogue.allRules {
            let id = rule.id
            guard let key = Self.pointedKey(id) else {
                if lintIDs.contains(id) { Issue.record("\(id) is a lint rule: its `Points at:` must start with the key in backticks") }
                continue
            }
            let last = key.split(separator: ".").last.map { String($0).replacingOccurrences(of: "[]", with: "") } ?? key
            for example in Self.examples where example.rule == id && example.bad {
                let lines = example.yaml.components(separatedBy: "\n")
                let hits = allFindings(example.yaml).filter { $0.ruleID == id }
                #expect(!hits.isEmpty, "\(id) bad example gave no finding")
                for finding in hits {
                    guard let at = finding.location, at.line >= 1, at.line <= lines.count else {
                        Issue.record("\(id) finding has no position: \(finding)")
                        continue
                    }
                    let line = lines[at.line - 1]
                    guard let range = line.range(of: "\(last):") else {
                        Issue.record("\(id) points at line \(at.line) `\(line)`, which does not hold `\(last):`")
                        continue
                    }
                    #expect(at.column >= line.distance(from: line.startIndex, to: range.lowerBound) + 1,
                            "\(id) points at column \(at.column) of `\(line)`, before `\(last):`")
                }
            }
        }
    }

    /// The binary's copy of docs/rules.md (for `--explain` and SARIF help) is docs/rules.md.
    @Test func theBuiltInRuleDocsAreDocsRulesMd() {
        #expect(RuleDocs.markdown + "\n" == Self.docs, "docs/rules.md differs from the built-in copy: run scripts/gen-rule-docs")
        for rule in LintCatalogue.allRules {
            let section = RuleDocs.section(rule.id)
            #expect(section?.hasPrefix("## \(rule.id) — \(rule.title)\n") == true, "no section for \(rule.id)")
            #expect(RuleDocs.summary(rule.id)?.hasPrefix("Severity: \(rule.severity.rawValue).") == true, "\(rule.id)'s summary")
        }
        #expect(RuleDocs.section("BL999") == nil)
    }
}
