import Foundation
/// Reads typed values out of `YAMLNode`s, recording each node's position and every problem.
///
/// Nothing here throws: a bad value becomes a finding and the caller's default stays, so one
/// run reports all problems of a file, never just the first.
final class NodeReader {
    var findings: [Finding] = []
    var sourceMap: [String: SourceLocation] = [:]

    func report(_ rule: Rule, _ message: String, at location: SourceLocation?, fix: String? = nil) {
        findings.append(Finding(rule: rule, message: message, at: location, fix: fix))
    }

    /// The fields of a mapping, after checking every key is one of `allowed`.
    func fields(_ node: YAMLNode, path: String, what: String, allowed: [String]) -> Fields? {
        if sourceMap[path] == nil { sourceMap[path] = node.location }
        guard case .mapping(let pairs) = node.kind else {
            report(.wrongType, "\(what) must be a mapping, found \(node.typeName)", at: node.location,
                   fix: "write `key: value` lines under it")
            return nil
        }
        var values: [String: YAMLNode] = [:]
        var keyLocations: [String: SourceLocation] = [:]
        for (key, keyLocation, value) in pairs {
            if values[key] != nil {
                report(.duplicateName, "key '\(key)' appears twice in \(what)", at: keyLocation,
                       fix: "keep one '\(key)'")
                continue
            }
            guard allowed.contains(key) else {
                let hint = closestMatch(to: key, in: allowed).map { "did you mean '\($0)'?" }
                    ?? "allowed keys: \(allowed.joined(separator: ", "))"
                report(.unknownKey, "unknown key '\(key)' in \(what)", at: keyLocation, fix: hint)
                continue
            }
            values[key] = value
            keyLocations[key] = keyLocation
            // A block that starts on the line after its key is shown at the key: the value's
            // first line is the first item, not the setting a finding is about.
            sourceMap[Self.join(path, key)] = value.location.line > keyLocation.line ? keyLocation : value.location
        }
        return Fields(reader: self, node: node, path: path, what: what, values: values)
    }

    func list(_ node: YAMLNode, path: String, what: String) -> [YAMLNode]? {
        switch node.kind {
        case .sequence(let items): return items
        case .null: return []
        default:
            report(.wrongType, "\(what) must be a list, found \(node.typeName)", at: node.location,
                   fix: "write each item on its own line starting with '- '")
            return nil
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// The fields of one mapping, read with typed accessors.
struct Fields {
    let reader: NodeReader
    let node: YAMLNode
    let path: String
    let what: String
    let values: [String: YAMLNode]

    var location: SourceLocation { node.location }

    func has(_ key: String) -> Bool { values[key] != nil }
    func node(_ key: String) -> YAMLNode? { values[key] }
    func path(_ key: String) -> String { NodeReader.join(path, key) }

    private func scalar(_ key: String, required: Bool, expected: String) -> (String, YAMLNode)? {
        guard let value = values[key] else {
            if required {
                reader.report(.missingKey, "\(what) needs '\(key)'", at: node.location,
                              fix: "add `\(key): <\(expected)>`")
            }
            return nil
        }
        switch value.kind {
        case .scalar(let text, _): return (text, value)
        case .null where required:
            reader.report(.missingKey, "'\(key)' of \(what) is empty", at: value.location,
                          fix: "give it a value (\(expected))")
            return nil
        case .null: return nil
        default:
            reader.report(.wrongType, "'\(key)' of \(what) must be \(expected), found \(value.typeName)",
                          at: value.location)
            return nil
        }
    }

    func string(_ key: String, required: Bool = false) -> String? {
        guard let (text, value) = scalar(key, required: required, expected: "a string") else { return nil }
        if text.isEmpty {
            reader.report(.badValue, "'\(key)' of \(what) is empty", at: value.location)
            return nil
        }
        return text
    }

    func int(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let (text, value) = scalar(key, required: required, expected: "a whole number") else { return nil }
        guard let number = Int(text.replacingOccurrences(of: "_", with: "")) else {
            reader.report(.wrongType, "'\(key)' of \(what) must be a whole number, found '\(text)'",
                          at: value.location)
            return nil
        }
        guard range.contains(number) else {
            reader.report(.badValue, "'\(key)' of \(what) is \(number), outside \(range.lowerBound)-\(range.upperBound)",
                          at: value.location, fix: "use a value from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return number
    }

    func bool(_ key: String) -> Bool? {
        guard let (text, value) = scalar(key, required: false, expected: "true or false") else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            reader.report(.wrongType, "'\(key)' of \(what) must be true or false, found '\(text)'",
                          at: value.location)
            return nil
        }
    }

    func duration(_ key: String, required: Bool = false) -> Duration? {
        guard let (text, value) = scalar(key, required: required, expected: "a duration like 2s") else { return nil }
        guard let duration = Duration.parseConfig(text) else {
            let hint = Double(text) != nil ? "add a unit: '\(text)s' or '\(text)ms'" : nil
            reader.report(.badDuration, "'\(key)' of \(what) is '\(text)', which is not a duration",
                          at: value.location, fix: hint)
            return nil
        }
        return duration
    }

    /// A percentage written `20`, `20%` or `2.5%`.
    func percent(_ key: String) -> Double? {
        guard let (text, value) = scalar(key, required: false, expected: "a percentage like 20%") else { return nil }
        let number = text.hasSuffix("%") ? String(text.dropLast()) : text
        guard let percent = Double(number), percent.isFinite, (0...100).contains(percent) else {
            reader.report(.badValue, "'\(key)' of \(what) is '\(text)', not a percentage from 0 to 100",
                          at: value.location, fix: "write a number from 0 to 100, e.g. 20%")
            return nil
        }
        return percent
    }

    func address(_ key: String, required: Bool = false) -> Address? {
        guard let (text, value) = scalar(key, required: required, expected: "HOST:PORT") else { return nil }
        switch Address.parse(text) {
        case .success(let address): return address
        case .failure(let error):
            reader.report(.badAddress, "'\(key)' of \(what) is '\(text)', which \(error)", at: value.location)
            return nil
        }
    }

    func oneOf(_ key: String, _ choices: [String]) -> String? {
        guard let (text, value) = scalar(key, required: false, expected: "one of \(choices.joined(separator: ", "))")
        else { return nil }
        guard choices.contains(text) else {
            let hint = closestMatch(to: text, in: choices).map { "did you mean '\($0)'?" }
                ?? "use one of: \(choices.joined(separator: ", "))"
            reader.report(.badValue, "'\(key)' of \(what) is '\(text)', which is not known", at: value.location,
                          fix: hint)
            return nil
        }
        return text
    }

    func stringList(_ key: String) -> [String]? {
        guard let value = values[key] else { return nil }
        if case .scalar(let text, _) = value.kind { return [text] }
        guard let items = reader.list(value, path: path(key), what: "'\(key)' of \(what)") else { return nil }
        var strings: [String] = []
        for item in items {
            guard case .scalar(let text, _) = item.kind else {
                reader.report(.wrongType, "each item of '\(key)' in \(what) must be a string", at: item.location)
                continue
            }
            strings.append(text)
        }
        return strings
    }

    func mapping(_ key: String, allowed: [String]) -> Fields? {
        guard let value = values[key] else { return nil }
        if case .null = value.kind { return nil }
        return reader.fields(value, path: path(key), what: "'\(key)' of \(what)", allowed: allowed)
    }
}
