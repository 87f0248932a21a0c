import Yams

/// A parsed YAML node that remembers where it was written.
///
/// Yams' nodes carry a mark; this copy is `Sendable` and keeps mapping keys in file order,
/// so findings can point at the exact key or value.
public struct YAMLNode: Sendable {
    public enum Kind: Sendable {
        case scalar(String, plain: Bool)
        case mapping([(key: String, keyLocation: SourceLocation, value: YAMLNode)])
        case sequence([YAMLNode])
        case null
    }

    public var kind: Kind
    public var location: SourceLocation

    public var typeName: String {
        switch kind {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .null: "nothing (null)"
        }
    }

    /// Parses `text`; a syntax error becomes a BL001 finding with the parser's position.
    public static func parse(_ text: String, file: String) -> Result<YAMLNode?, ConfigError> {
        do {
            guard let node = try Yams.compose(yaml: text) else { return .success(nil) }
            return .success(YAMLNode(node, file: file))
        } catch let error as YamlError {
            return .failure(ConfigError(findings: [syntaxFinding(error, file: file)]))
        } catch {
            let finding = Finding(
                rule: .yamlSyntax, message: "cannot parse YAML: \(error)",
                at: SourceLocation(file: file, line: 1, column: 1))
            return .failure(ConfigError(findings: [finding]))
        }
    }

    init(_ node: Node, file: String) {
        let mark = node.mark
        location = SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        switch node {
        case .scalar(let scalar):
            let plain = scalar.style == .plain || scalar.style == .any
            if plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                kind = .null
            } else {
                kind = .scalar(scalar.string, plain: plain)
            }
        case .mapping(let mapping):
            kind = .mapping(mapping.map { key, value in
                let keyMark = key.mark
                let keyLocation = SourceLocation(
                    file: file, line: keyMark?.line ?? 1, column: keyMark?.column ?? 1)
                return (key.string ?? "\(key)", keyLocation, YAMLNode(value, file: file))
            })
        case .sequence(let sequence):
            kind = .sequence(sequence.map { YAMLNode($0, file: file) })
        case .alias:
            kind = .null
        }
    }

    private static func syntaxFinding(_ error: YamlError, file: String) -> Finding {
        func at(_ mark: Mark) -> SourceLocation {
            SourceLocation(file: file, line: mark.line, column: mark.column)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return Finding(rule: .yamlSyntax, message: "YAML syntax: \(detail)", at: at(mark))
        case .reader(let problem, _, _, _):
            return Finding(
                rule: .yamlSyntax, message: "YAML cannot be read: \(problem)",
                at: SourceLocation(file: file, line: 1, column: 1),
                fix: "save the file as UTF-8 text")
        default:
            return Finding(
                rule: .yamlSyntax, message: "YAML error: \(error)",
                at: SourceLocation(file: file, line: 1, column: 1))
        }
    }
}
