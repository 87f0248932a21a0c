import Foundation

/// Loads a Ballast YAML config into a `Config`, or every finding that makes it unusable.
///
/// ```swift
/// switch ConfigLoader.load(file: "ballast.yaml") {
/// case .success(let loaded): print(loaded.config.listeners.count, loaded.warnings)
/// case .failure(let error): print(error)   // FILE:LINE:COL: error: [BL002] ...
/// }
/// ```
package enum ConfigLoader {
    package struct Loaded: Sendable {
        package var config: Config
        /// Findings of severity warning; a config with an error is never returned.
        package var warnings: [Finding]
        /// The file's `# ballast: ignore` comments, the warnings they suppressed, and which of
        /// them matched (a later check, `ballast check`, applies the rest to the file rules).
        package var suppressions: [Suppression] = []
        package var suppressed: [Finding] = []
        package var usedSuppressions: Set<Suppression> = []

        /// Applies the file's suppressions to findings of the later checks (TLS files,
        /// runbooks, preflight); returns what is still reported, and records what was suppressed.
        package mutating func suppress(_ findings: [Finding]) -> [Finding] {
            let split = Suppressions.apply(suppressions, file: config.sourceFile, to: findings, used: &usedSuppressions)
            suppressed += split.suppressed
            return split.kept
        }

        /// Suppressions of the later checks' rules that matched nothing (call after `suppress`);
        /// `skipping`: rules whose check did not run (the preflight without `--preflight`).
        package func staleLaterSuppressions(skipping: Set<String> = []) -> [Finding] {
            let judged = Suppressions.laterRules.subtracting(skipping)
            return Suppressions.stale(suppressions.filter { judged.contains($0.rule) }, used: usedSuppressions, file: config.sourceFile)
        }
    }

    package static func load(file path: String) -> Result<Loaded, ConfigError> {
        // Not read at all when it is larger than a config may be (a FIFO or device has no size here).
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > YAMLNode.Bounds.standard.maxBytes {
            return .failure(ConfigError(findings: [Finding(
                rule: .configTooLarge, message: "config file '\(path)' is \(size) bytes, more than the \(YAMLNode.Bounds.standard.maxBytes) a config may have",
                at: SourceLocation(file: path, line: 1, column: 1))]))
        }
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
        return load(text: text, file: path, baseDirectory: Config.directory(ofFile: path))
    }

    /// `baseDirectory`: what relative paths in the text are relative to (default: the working
    /// directory); `load(file:)` passes the file's own directory.
    package static func load(text: String, file: String, baseDirectory: String? = nil) -> Result<Loaded, ConfigError> {
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
        config.baseDirectory = baseDirectory ?? FileManager.default.currentDirectoryPath
        config.resolvePaths()
        FileDescriptorLimit.deriveMaxConnections(&config, written: { reader.sourceMap["listeners[\($0)].limits.max_connections"] != nil })
        if !config.alertsGiven { config.alerts = AlertsConfig.defaults(for: config) }
        ConfigSemantics.check(config, reader: reader)
        AlertSemantics.check(config, reader: reader)
        config.sourceMap = reader.sourceMap
        config.sourceText = text
        config.sourceFile = file
        reader.findings += LintCatalogue.check(config)
        let (suppressions, bad) = Suppressions.parse(text, file: file)
        var used = Set<Suppression>()
        let split = Suppressions.apply(suppressions, file: file, to: reader.findings, used: &used)
        let findings = split.kept + bad
            + Suppressions.stale(suppressions.filter { !Suppressions.laterRules.contains($0.rule) }, used: used, file: file)
        if findings.contains(where: { $0.severity == .error }) {
            return .failure(ConfigError(findings: sorted(findings)))
        }
        return .success(Loaded(config: config, warnings: sorted(findings), suppressions: suppressions,
                               suppressed: split.suppressed, usedSuppressions: used))
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
