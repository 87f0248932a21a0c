import Foundation

/// Loads a Ballast YAML config into a `Config`, or every finding that makes it unusable.
///
/// ```swift
/// switch ConfigLoader.load(file: "ballast.yaml") {
/// case .success(let loaded): print(loaded.config.listeners.count, loaded.warnings)
/// case .failure(let error): print(error)   // FILE:LINE:COL: error: [BL002] ...
/// }
/// ```
public enum ConfigLoader {
    public struct Loaded: Sendable {
        public var config: Config
        /// Findings of severity warning; a config with an error is never returned.
        public var warnings: [Finding]
    }

    public static func load(file path: String) -> Result<Loaded, ConfigError> {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            return .failure(ConfigError(findings: [Finding(
                rule: .unreadableFile, message: "config file '\(path)' \(reason)", at: nil,
                fix: "pass the path of a readable YAML file")]))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure(ConfigError(findings: [Finding(
                rule: .yamlSyntax, message: "config file '\(path)' is not UTF-8 text",
                at: SourceLocation(file: path, line: 1, column: 1), fix: "save the file as UTF-8")]))
        }
        return load(text: text, file: path)
    }

    public static func load(text: String, file: String) -> Result<Loaded, ConfigError> {
        let root: YAMLNode?
        switch YAMLNode.parse(text, file: file) {
        case .success(let node): root = node
        case .failure(let error): return .failure(error)
        }
        guard let root else {
            return .failure(ConfigError(findings: [Finding(
                rule: .missingKey, message: "the config is empty",
                at: SourceLocation(file: file, line: 1, column: 1),
                fix: "start from `ballast up`'s ./ballast-data/ballast.yaml or docs/config.md")]))
        }
        let reader = NodeReader()
        var config = ConfigParser(reader: reader).parse(root)
        if !config.alertsGiven { config.alerts = AlertsConfig.defaults(for: config) }
        ConfigSemantics.check(config, reader: reader)
        AlertSemantics.check(config, reader: reader)
        config.sourceMap = reader.sourceMap
        config.sourceText = text
        reader.findings += LintCatalogue.check(config)
        let errors = reader.findings.filter { $0.severity == .error }
        if !errors.isEmpty {
            return .failure(ConfigError(findings: sorted(reader.findings)))
        }
        return .success(Loaded(config: config, warnings: sorted(reader.findings)))
    }

    static func sorted(_ findings: [Finding]) -> [Finding] {
        findings.enumerated().sorted { a, b in
            let la = a.element.location, lb = b.element.location
            if let la, let lb, (la.line, la.column) != (lb.line, lb.column) {
                return (la.line, la.column) < (lb.line, lb.column)
            }
            return a.offset < b.offset
        }.map(\.element)
    }
}
