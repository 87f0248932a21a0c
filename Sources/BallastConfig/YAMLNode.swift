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
        if let finding = strayLineBreak(text, file: file) { return .failure(ConfigError(findings: [finding])) }
        if text.utf8.count > Bounds.standard.maxBytes {
            return .failure(ConfigError(findings: [Finding(
                rule: .configTooLarge, message: "the config is \(text.utf8.count) bytes, more than the \(Bounds.standard.maxBytes) a config may have",
                at: SourceLocation(file: file, line: 1, column: 1))]))
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { return .success(nil) }
            var budget = Bounds.standard
            return .success(try YAMLNode(node, file: file, depth: 0, budget: &budget))
        } catch let limit as Bounds.Exceeded {
            return .failure(ConfigError(findings: [Finding(rule: .configTooLarge, message: limit.message, at: limit.location)]))
        } catch let error as YamlError {
            return .failure(ConfigError(findings: [syntaxFinding(error, file: file, text: text)]))
        } catch {
            let finding = Finding(
                rule: .yamlSyntax, message: "cannot parse YAML: \(error)",
                at: SourceLocation(file: file, line: 1, column: 1))
            return .failure(ConfigError(findings: [finding]))
        }
    }

    /// libyaml also ends a line at a lone CR, NEL, LINE SEPARATOR or PARAGRAPH SEPARATOR, where
    /// editors and `wc -l` do not: positions after one would name lines the file does not seem to
    /// have (found by fuzzing: "114:6" in a 44-line file). Such a file is refused, at the break.
    static func strayLineBreak(_ text: String, file: String) -> Finding? {
        var line = 1, column = 1
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            if previousWasCR, scalar != "\n" { return stray("a carriage return not followed by a line feed", line, column - 1, file) }
            previousWasCR = scalar == "\r"
            switch scalar.value {
            case 0x0A: line += 1; column = 1; continue
            case 0x85: return stray("a NEXT LINE character (U+0085)", line, column, file)
            case 0x2028, 0x2029: return stray("a Unicode line or paragraph separator (U+\(String(scalar.value, radix: 16, uppercase: true)))", line, column, file)
            default: column += 1
            }
        }
        return previousWasCR ? stray("a carriage return not followed by a line feed", line, column - 1, file) : nil
    }

    private static func stray(_ what: String, _ line: Int, _ column: Int, _ file: String) -> Finding {
        Finding(rule: .yamlSyntax, message: "YAML syntax: \(what) breaks the line where editors do not",
                at: SourceLocation(file: file, line: line, column: column),
                fix: "save the file with LF or CRLF line endings and without U+0085, U+2028 or U+2029")
    }

    /// What one config may hold once its aliases are expanded: a file of a few hundred bytes
    /// whose anchors refer to anchors ("billion laughs") would otherwise expand to billions of
    /// nodes. The largest real configs (a thousand servers) have about ten thousand.
    struct Bounds {
        var maxBytes = 4 << 20
        var maxNodes = 200_000
        var maxDepth = 64
        var nodes = 0
        static let standard = Bounds()

        struct Exceeded: Error {
            var message: String
            var location: SourceLocation
        }
    }

    init(_ node: Node, file: String, depth: Int, budget: inout Bounds) throws {
        let mark = node.mark
        location = SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
        budget.nodes += 1
        if budget.nodes > budget.maxNodes {
            throw Bounds.Exceeded(
                message: "the config expands to more than \(budget.maxNodes) YAML nodes (anchors and aliases that refer to each other multiply)",
                location: location)
        }
        if depth > budget.maxDepth {
            throw Bounds.Exceeded(message: "the config nests deeper than \(budget.maxDepth) levels", location: location)
        }
        switch node {
        case .scalar(let scalar):
            let plain = scalar.style == .plain || scalar.style == .any
            if plain, ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                kind = .null
            } else {
                kind = .scalar(scalar.string, plain: plain)
            }
        case .mapping(let mapping):
            var pairs: [(key: String, keyLocation: SourceLocation, value: YAMLNode)] = []
            for (key, value) in mapping {
                let keyMark = key.mark
                let keyLocation = SourceLocation(
                    file: file, line: keyMark?.line ?? 1, column: keyMark?.column ?? 1)
                pairs.append((key.string ?? String("\(key)".prefix(200)), keyLocation, try YAMLNode(value, file: file, depth: depth + 1, budget: &budget)))
            }
            kind = .mapping(pairs)
        case .sequence(let sequence):
            var items: [YAMLNode] = []
            for item in sequence { items.append(try YAMLNode(item, file: file, depth: depth + 1, budget: &budget)) }
            kind = .sequence(items)
        case .alias:
            kind = .null
        }
    }

    private static func syntaxFinding(_ error: YamlError, file: String, text: String) -> Finding {
        func at(_ mark: Mark) -> SourceLocation {
            // At the end of a file without a final newline libyaml moves to a line past the
            // last (found by fuzzing: "10:1" in a 9-line file); say the end of the last line.
            let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            if mark.line > lines.count, let last = lines.last {
                return SourceLocation(file: file, line: lines.count, column: last.count + 1)
            }
            return SourceLocation(file: file, line: mark.line, column: mark.column)
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return Finding(rule: .yamlSyntax, message: "YAML syntax: \(detail)", at: at(mark))
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams names the keys it can print and places the error at the first in sort order;
            // for list or mapping keys that order is not stable (found by fuzzing: two loads of
            // one file gave two positions). Config keys are names, so those get one finding.
            if duplicates.contains("<uncovertable>") {
                return Finding(rule: .yamlSyntax, message: "YAML syntax: a mapping key is a list or a mapping, and is repeated",
                               at: SourceLocation(file: file, line: 1, column: 1), fix: "config keys are plain names such as `listen`")
            }
            let names = duplicates.map { "'\($0.prefix(60))'" }.joined(separator: ", ")
            return Finding(rule: .yamlSyntax, message: "YAML syntax: a mapping repeats the key \(names)", at: at(context.mark),
                           fix: "keep one of them")
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
