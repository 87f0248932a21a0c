import Foundation

/// Checks of the `alerts:` section that need the whole config: what the rules point at.
enum AlertSemantics {
    static func check(_ config: Config, reader: NodeReader) {
        func at(_ path: String) -> SourceLocation? { reader.sourceMap[path] ?? reader.sourceMap["alerts"] }
        let routes = config.listeners.flatMap(\.routes).map(\.name)
        let upstreams = config.upstreams.map(\.name)
        for (i, name) in config.alerts.scrape.upstreams.enumerated() where !upstreams.contains(name) {
            reader.report(.alertTargetMissing, "alerts scrape upstream '\(name)', which does not exist",
                          at: at("alerts.scrape.upstreams[\(i)]") ?? at("alerts.scrape.upstreams"), fix: hint(name, upstreams))
        }
        var seen: Set<String> = []
        for (i, rule) in config.alerts.rules.enumerated() {
            let path = "alerts.rules[\(i)]"
            let scope = rule.condition.scope
            if !seen.insert("\(rule.name)|\(scope)").inserted {
                reader.report(.duplicateName, "alert '\(rule.name)' for \(scope) is defined twice", at: at("\(path).name"),
                              fix: "give the rules different names or scopes")
            }
            switch scope {
            case .route(let name) where !routes.contains(name):
                reader.report(.alertTargetMissing, "alert '\(rule.name)' watches route '\(name)', which does not exist",
                              at: at("\(path).route"), fix: hint(name, routes))
            case .upstream(let name) where !upstreams.contains(name):
                reader.report(.alertTargetMissing, "alert '\(rule.name)' watches upstream '\(name)', which does not exist",
                              at: at("\(path).upstream"), fix: hint(name, upstreams))
            default: break
            }
            if rule.condition.signalKind?.isScraped == true, config.alerts.scrape.upstreams.isEmpty {
                reader.report(.alertTargetMissing,
                              "alert '\(rule.name)' reads \(rule.condition.signalKind!.rawValue) from the auth replicas, but nothing is scraped",
                              at: at("\(path).signal"), fix: "add `scrape: { upstreams: [auth] }` under `alerts:`")
            }
        }
    }

    private static func hint(_ name: String, _ names: [String]) -> String {
        referenceHint(name, in: names, ifNone: "define it first")
    }
}

extension AlertCondition {
    public var scope: SignalScope {
        switch self {
        case .threshold(let signal, _, _), .anomaly(let signal, _): signal.scope
        case .burnRate(let scope, _, _): scope
        }
    }

    public var signalKind: Signal.Kind? {
        switch self {
        case .threshold(let signal, _, _), .anomaly(let signal, _): signal.kind
        case .burnRate: nil
        }
    }
}

/// BL042: every alert's runbook must exist, so that the page says where to look.
public enum RunbookCheck {
    /// Findings for runbooks that are neither an http(s) URL, nor a shipped runbook
    /// (`builtin:NAME`), nor a readable file. Relative paths are relative to `directory`, by
    /// default the config's own directory.
    public static func check(_ config: Config, directory: String? = nil) -> [Finding] {
        let base = directory ?? config.baseDirectory
        var findings: [Finding] = []
        var reported: Set<String> = []
        for (i, rule) in config.alerts.rules.enumerated() {
            guard resolve(rule.runbook, directory: base) == nil, reported.insert(rule.runbook).inserted else { continue }
            let what: String
            if rule.runbook.hasPrefix(ShippedRunbooks.scheme) {
                what = "runbook '\(rule.runbook)' of alert '\(rule.name)' is not one of the shipped runbooks (\(ShippedRunbooks.files.keys.sorted().joined(separator: ", ")))"
            } else {
                let resolved = Config.resolve(rule.runbook, against: base)
                what = "runbook '\(rule.runbook)'\(resolved == rule.runbook ? "" : " (\(resolved))") of alert '\(rule.name)' does not exist"
            }
            findings.append(Finding(
                rule: .runbookMissing, message: what,
                at: config.location(of: "alerts.rules[\(i)].runbook") ?? config.location(of: "alerts"),
                fix: "write the runbook there (relative paths are relative to the config file's directory), point at an existing one, or use a shipped one (`builtin:NAME`)"))
        }
        return findings
    }

    /// The runbook's URL or shipped reference as given, or the absolute path of its file; nil
    /// when it is missing.
    public static func resolve(_ runbook: String, directory: String) -> String? {
        if runbook.hasPrefix("http://") || runbook.hasPrefix("https://") { return runbook }
        if runbook.hasPrefix(ShippedRunbooks.scheme) { return ShippedRunbooks.text(runbook) == nil ? nil : runbook }
        let path = Config.resolve(runbook, against: directory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path) else { return nil }
        return path
    }

    /// The Markdown text of a runbook the config names (shipped or a file); nil for a URL or a
    /// missing file.
    public static func text(of runbook: String, in config: Config) -> String? {
        if let shipped = ShippedRunbooks.text(runbook) { return shipped }
        guard let path = resolve(runbook, directory: config.baseDirectory), path.hasPrefix("/") else { return nil }
        return try? String(contentsOfFile: path, encoding: .utf8)
    }
}
