import Foundation

/// The rule catalogue's documentation (docs/rules.md), built into the binary so that
/// `ballast check --explain BL0NN` and SARIF output need no file beside it.
package enum RuleDocs {
    /// The section of docs/rules.md for `id` (from its `## BL0NN — title` heading to the next
    /// heading), or nil for an id the catalogue does not have. Ids are matched case-insensitively.
    package static func section(_ id: String) -> String? {
        let wanted = id.uppercased()
        var lines: [Substring] = []
        var inSection = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                if inSection { break }
                inSection = line.hasPrefix("## \(wanted) — ")
            }
            if inSection { lines.append(line) }
        }
        guard !lines.isEmpty else { return nil }
        while lines.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The section's prose without its heading and examples: what a rule means, for SARIF's
    /// `fullDescription`.
    package static func summary(_ id: String) -> String? {
        guard let section = section(id) else { return nil }
        let paragraphs = section.components(separatedBy: "\n\n").dropFirst()
        guard let first = paragraphs.first(where: { !$0.hasPrefix("```") && !$0.hasPrefix("Bad") && !$0.hasPrefix("Good") }) else { return nil }
        return first.replacingOccurrences(of: "\n", with: " ")
    }
}
