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
    package var scope: SignalScope {
        switch self {
        case .threshold(let signal, _, _), .anomaly(let signal, _): signal.scope
        case .burnRate(let scope, _, _): scope
        }
    }

    package var signalKind: Signal.Kind? {
        switch self {
        case .threshold(let signal, _, _), .anomaly(let signal, _): signal.kind
        case .burnRate: nil
        }
    }
}

/// BL042: every alert's runbook must exist, so that the page says where to look; and it must be
/// a Markdown file in a runbook directory, so that a config cannot make the admin API serve
/// any other file (a TLS key, an SSH key) as a "runbook", nor learn whether one exists.
package enum RunbookCheck {
    /// Findings for runbooks that are neither an http(s) URL, nor a shipped runbook
    /// (`builtin:NAME`), nor a readable `.md` file under the runbook directories: the config's
    /// own directory (by default; `directory` for tests) and those `runbooks.directories` lists.
    package static func check(_ config: Config, directory: String? = nil) -> [Finding] {
        let base = directory ?? config.baseDirectory
        let allowed = directories(config, base: base)
        var findings: [Finding] = []
        var reported: Set<String> = []
        for (i, rule) in config.alerts.rules.enumerated() {
            guard let problem = problem(rule.runbook, directory: base, allowed: allowed), reported.insert(rule.runbook).inserted else { continue }
            findings.append(Finding(
                rule: .runbookMissing, message: "runbook \(describe(rule.runbook, base: base)) of alert '\(rule.name)' \(problem)",
                at: config.location(of: "alerts.rules[\(i)].runbook") ?? config.location(of: "alerts"),
                fix: "write the runbook as a .md file under the config's directory (relative paths are relative to it) or a directory of `runbooks.directories`, or use a shipped one (`builtin:NAME`)"))
        }
        return findings
    }

    /// The directories runbook files may be read from, absolute and normalised.
    package static func directories(_ config: Config, base: String? = nil) -> [String] {
        let base = base ?? config.baseDirectory
        return ([base] + config.runbookDirectories.map { Config.resolve($0, against: base) }).map(normalised)
    }

    /// The runbook's URL or shipped reference as given, or the absolute path of its file; nil
    /// when it is missing or not allowed.
    package static func resolve(_ runbook: String, directory: String, allowed: [String]? = nil) -> String? {
        guard problem(runbook, directory: directory, allowed: allowed ?? [normalised(directory)]) == nil else { return nil }
        if runbook.hasPrefix("http://") || runbook.hasPrefix("https://") || runbook.hasPrefix(ShippedRunbooks.scheme) { return runbook }
        return normalised(Config.resolve(runbook, against: directory))
    }

    /// Why the runbook cannot be used, or nil. A file outside the directories is refused
    /// without looking at it, so the answer says nothing about what exists there.
    static func problem(_ runbook: String, directory: String, allowed: [String]) -> String? {
        if runbook.hasPrefix("http://") || runbook.hasPrefix("https://") { return nil }
        if runbook.hasPrefix(ShippedRunbooks.scheme) {
            return ShippedRunbooks.text(runbook) == nil
                ? "is not one of the shipped runbooks (\(ShippedRunbooks.files.keys.sorted().joined(separator: ", ")))" : nil
        }
        let path = normalised(Config.resolve(runbook, against: directory))
        guard allowed.contains(where: { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            return "is outside the runbook directories (\(allowed.joined(separator: ", ")))"
        }
        guard path.lowercased().hasSuffix(".md") else { return "is not a Markdown (.md) file" }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path) else { return "does not exist" }
        return nil
    }

    static func normalised(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    static func describe(_ runbook: String, base: String) -> String {
        guard !runbook.hasPrefix(ShippedRunbooks.scheme), !runbook.hasPrefix("http") else { return "'\(runbook)'" }
        return Config.describe(runbook, against: base)
    }

    /// The Markdown text of a runbook the config names (shipped, or a file it may read); nil
    /// for a URL, a missing file or one outside the runbook directories.
    package static func text(of runbook: String, in config: Config) -> String? {
        if let shipped = ShippedRunbooks.text(runbook) { return shipped }
        guard let path = resolve(runbook, directory: config.baseDirectory, allowed: directories(config)), path.hasPrefix("/") else { return nil }
        return try? String(contentsOfFile: path, encoding: .utf8)
    }
}
