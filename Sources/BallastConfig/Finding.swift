/// How bad a finding is: errors block a config, warnings do not (unless `--strict`).
package enum Severity: String, Sendable, Codable, Comparable {
    case warning
    case error

    package static func < (lhs: Severity, rhs: Severity) -> Bool {
        lhs == .warning && rhs == .error
    }
}

/// One problem found in a configuration, with where it is and how to fix it.
///
/// Prints in the compiler style that editors and CI annotate:
/// ```
/// ballast.yaml:12:9: error: [BL007] route 'auth' points at upstream 'auht', which does not exist; fix: use one of: auth
/// ```
package struct Finding: Sendable, Hashable, CustomStringConvertible, Codable {
    package var ruleID: String
    package var severity: Severity
    package var message: String
    package var location: SourceLocation?
    package var fix: String?

    package init(rule: Rule, message: String, at location: SourceLocation?, fix: String? = nil) {
        self.ruleID = rule.id
        self.severity = rule.severity
        self.message = message
        self.location = location
        self.fix = fix ?? rule.fix
    }

    package var description: String {
        let place = location.map { "\($0): " } ?? ""
        let hint = fix.map { "; fix: \($0)" } ?? ""
        return "\(place)\(severity.rawValue): [\(ruleID)] \(message)\(hint)"
    }

    enum CodingKeys: String, CodingKey { case ruleID = "id", severity, message, file, line, column, fix }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ruleID, forKey: .ruleID)
        try c.encode(severity, forKey: .severity)
        try c.encode(message, forKey: .message)
        try c.encodeIfPresent(location?.file, forKey: .file)
        try c.encodeIfPresent(location?.line, forKey: .line)
        try c.encodeIfPresent(location?.column, forKey: .column)
        try c.encodeIfPresent(fix, forKey: .fix)
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ruleID = try c.decode(String.self, forKey: .ruleID)
        severity = try c.decode(Severity.self, forKey: .severity)
        message = try c.decode(String.self, forKey: .message)
        fix = try c.decodeIfPresent(String.self, forKey: .fix)
        if let file = try c.decodeIfPresent(String.self, forKey: .file) {
            location = SourceLocation(
                file: file,
                line: try c.decodeIfPresent(Int.self, forKey: .line) ?? 0,
                column: try c.decodeIfPresent(Int.self, forKey: .column) ?? 0)
        } else {
            location = nil
        }
    }
}

/// A config that could not be used, with every finding that says why.
package struct ConfigError: Error, Sendable, CustomStringConvertible {
    package var findings: [Finding]
    package init(findings: [Finding]) { self.findings = findings }
    package var description: String { findings.map(\.description).joined(separator: "\n") }
}
