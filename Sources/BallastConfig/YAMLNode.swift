import Yams

/// A parsed YAML node that remembers where it was written.
///
/// Yams' nodes carry a mark; this copy is `Sendable` and keeps mapping keys in file order,
/// so findings can point at the exact key or value.
package struct YAMLNode: Sendable {
    package enum Kind: Sendable {
        case scalar(String, plain: Bool)
        case mapping([(key: String, keyLocation: SourceLocation, value: YAMLNode)])
        case sequence([YAMLNode])
        case null
    }

    package var kind: Kind
    package var location: SourceLocation

    package var typeName: String {
        switch kind {
        case .scalar: "a scalar"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .null: "nothing (null)"
        }
    }

    /// Parses `text`; a syntax error becomes a BL001 finding with the parser's position.
    package static func parse(_ text: String, file: String) -> Result<YAMLNode?, ConfigError> {
        if let finding = strayLineBreak(text, file: file) { return .failure(ConfigError(findings: [finding])) }
        if text.utf8.count > Bounds.standard.maxBytes {
            return .failure(ConfigError(findings: [Finding(
                rule: .configTooLarge, message: "the config is \(text.utf8.count) bytes, more than the \(Bounds.standard.maxBytes) a config may have",
                at: SourceLocation(file: file, line: 1, column: 1))]))
        }
        if let finding = aliasKey(text, file: file) { return .failure(ConfigError(findings: [finding])) }
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

    /// An alias used as a mapping key (`*big: 1`, `? *big`) is refused before the YAML is
    /// composed: Yams compares and hashes keys while it builds a mapping, and a key that stands
    /// for an anchor of ten million nodes took a 746-byte file (found by fuzzing) 50 s, before
    /// any node bound could apply. Ballast's keys are names; no config needs such a key.
    static func aliasKey(_ text: String, file: String) -> Finding? {
        let bytes = Array(text.utf8)
        var line = 1, lineStart = 0
        var i = 0
        var quote: UInt8? = nil
        func isName(_ b: UInt8) -> Bool {
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 95
        }
        while i < bytes.count {
            let b = bytes[i]
            if b == 10 { line += 1; lineStart = i + 1; quote = nil; i += 1; continue }
            if let q = quote {
                if b == q { quote = nil }
                i += 1
                continue
            }
            switch b {
            case 34, 39:   // " and ' open a quoted scalar only where a scalar starts (not in `it's`)
                let before = i == lineStart ? UInt8(32) : bytes[i - 1]
                if [32, 9, 91, 123, 44, 58, 45, 63].contains(before) { quote = b }
            case 35:       // # starts a comment at a line start or after a space
                if i == lineStart || bytes[i - 1] == 32 || bytes[i - 1] == 9 {
                    while i < bytes.count, bytes[i] != 10 { i += 1 }
                    continue
                }
            case 42:       // *NAME
                let before = i == lineStart ? UInt8(32) : bytes[i - 1]
                guard [32, 9, 91, 123, 44, 63, 45].contains(before) else { break }
                var j = i + 1
                while j < bytes.count, isName(bytes[j]) { j += 1 }
                guard j > i + 1 else { break }
                var k = j
                while k < bytes.count, bytes[k] == 32 || bytes[k] == 9 { k += 1 }
                // As a key: followed by ':', or after '?'. Any ':': inside [ ] or { } libyaml takes
                // one right after an alias as the value indicator whatever follows (`[*big:80]`,
                // found by fuzzing), and outside them `*big:x` is not valid YAML anyway.
                var explicit = false
                var p = i - 1
                while p >= lineStart, bytes[p] == 32 || bytes[p] == 9 { p -= 1 }
                if p >= lineStart, bytes[p] == 63 { explicit = true }
                let colon = k < bytes.count && bytes[k] == 58
                // Or the start of a longer key on its line (`[*big more: v]`, found by fuzzing:
                // libyaml makes it a key, and Yams hashed all of *big to look for duplicates).
                var longerKey = false
                if !colon, k < bytes.count, ![10, 13, 44, 93, 125, 35].contains(bytes[k]) {
                    var q = k
                    while q < bytes.count, ![10, 13, 44, 93, 125].contains(bytes[q]) {
                        if bytes[q] == 58 { longerKey = true; break }
                        q += 1
                    }
                }
                if colon || explicit || longerKey {
                    let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                    return Finding(rule: .configTooLarge,
                                   message: "the alias *\(name) is used as a mapping key; keys are names, and a key that stands for a large node makes the YAML parser compare all of it",
                                   at: SourceLocation(file: file, line: line, column: i - lineStart + 1),
                                   fix: "write the key as a plain name; aliases may stand for values only")
                }
                i = j
                continue
            default:
                break
            }
            i += 1
        }
        return nil
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
            // Two different keys that print alike ('' for an empty key and for one Yams cannot
            // name) tie in that sort, and which one it places the error at changes between loads
            // (found by fuzzing): then the finding is placed at the start, the same every time.
            let placed = Set(duplicates).count == duplicates.count ? at(context.mark) : SourceLocation(file: file, line: 1, column: 1)
            return Finding(rule: .yamlSyntax, message: "YAML syntax: a mapping repeats the key \(names)", at: placed,
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
