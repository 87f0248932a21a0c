import BallastConfig
import BallastProxy
import NIOCore

/// Properties of config loading, for any bytes an operator (or an attacker with the admin
/// token) may submit as a config.
///
/// - Loading never crashes and always ends in a config or in findings; a refused config has at
///   least one error.
/// - Every finding names a rule of the catalogue and, when it has a position, one inside the
///   text (the line exists, the column is at least 1) in the file it was given.
/// - Loading is deterministic: the same text gives the same findings and a config whose diff
///   with itself is empty.
/// - A config that loads compiles for the data plane, and each of its listeners routes and
///   balances a plain request without crashing, as a hot reload would.
enum ConfigProperties {
    static let file = "fuzz.yaml"
    static let knownRules = Set(LintCatalogue.allRules.map(\.id))
    static let probe = Array("GET / HTTP/1.1\r\nHost: example\r\nCookie: sid=1\r\nX-User: u\r\n\r\n".utf8)

    static func check(_ input: [UInt8]) -> String? {
        let text = String(decoding: input, as: UTF8.self)
        let lineCount = text.utf8.count { $0 == UInt8(ascii: "\n") } + 1   // as editors count: CRLF is one break
        let first = ConfigLoader.load(text: text, file: file)
        let findings: [Finding]
        switch first {
        case .failure(let error):
            if !error.findings.contains(where: { $0.severity == .error }) { return "refused without an error: \(error)" }
            findings = error.findings
        case .success(let loaded):
            if let error = loaded.warnings.first(where: { $0.severity == .error }) { return "loaded with an error: \(error)" }
            findings = loaded.warnings
        }
        for finding in findings {
            if !knownRules.contains(finding.ruleID) { return "finding of unknown rule \(finding.ruleID): \(finding)" }
            if finding.message.isEmpty { return "finding \(finding.ruleID) without a message" }
            if let at = finding.location {
                if at.file != file { return "finding placed in file '\(at.file)': \(finding)" }
                if at.line < 1 || at.line > lineCount || at.column < 1 {
                    return "finding at \(at.line):\(at.column) outside a text of \(lineCount) lines: \(finding)"
                }
            }
        }
        let second = ConfigLoader.load(text: text, file: file)
        switch (first, second) {
        case (.failure(let a), .failure(let b)):
            if a.description != b.description { return "two loads gave different findings:\n\(a)\n---\n\(b)" }
        case (.success(let a), .success(let b)):
            if a.warnings != b.warnings { return "two loads gave different warnings" }
            let diff = ConfigDiff(old: a.config, new: b.config)
            if !diff.changes.isEmpty { return "a config differs from itself: \(diff.changes.map(\.description))" }
            return compiles(a.config)
        default:
            return "two loads of the same text disagree on whether it is valid"
        }
        return nil
    }

    /// Compiles as a reload does, with names that are not IP literals pointed at loopback (the
    /// fuzzer must not wait on DNS), and sends one request through each listener.
    static func compiles(_ loaded: Config) -> String? {
        var config = loaded
        for u in config.upstreams.indices {
            for s in config.upstreams[u].servers.indices {
                let address = config.upstreams[u].servers[s].address
                if (try? SocketAddress(ipAddress: address.host, port: address.port)) == nil {
                    config.upstreams[u].servers[s].address.host = "127.0.0.1"
                }
            }
        }
        let runtime: ProxyRuntime
        do {
            runtime = try RuntimeCompiler(loopCount: 2).compile(config, version: 1)
        } catch {
            return "a config that loads does not compile: \(error)"
        }
        for listener in config.listeners {
            guard var stream = RequestStream(runtime: runtime, listener: listener.name) else {
                return "listener '\(listener.name)' is missing from the compiled runtime"
            }
            stream.feed(probe)
            if stream.events.isEmpty { return "listener '\(listener.name)' made nothing of a whole request" }
        }
        return nil
    }
}
