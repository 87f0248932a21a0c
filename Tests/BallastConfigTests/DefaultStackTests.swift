import Foundation
import Testing
@testable import BallastConfig

@Suite struct DefaultStackTests {
    @Test func theDefaultStackIsValidAndMatchesTheExample() throws {
        let loaded = try ConfigLoader.load(text: Config.defaultStackYAML, file: "default").get()
        // Only the auth routes are served, on purpose: BL019 is suppressed with its reason.
        // max_connections is derived from the file limit, so BL032 cannot fire on any machine.
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.suppressed.map(\.ruleID) == ["BL019"])
        #expect(loaded.config.listeners[0].limits.maxConnectionsDerived)
        #expect(loaded.config.upstream(named: "auth")?.servers.map(\.address.port) == [9101, 9102, 9103])
        #expect(loaded.config.listeners.first?.listen.port == 8080)
        #expect(loaded.config.admin.listen.port == 9900)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = try String(contentsOf: root.appendingPathComponent("examples/ballast.yaml"), encoding: .utf8)
        // The example is the same stack; examples/runbooks is a link to docs/runbooks.
        #expect(example.trimmingCharacters(in: .newlines) == Config.defaultStackYAML)
    }

    /// The example configs are what users copy: each passes `ballast check --strict` (the
    /// loader's rules, the lint rules, the runbook checks; warnings only with a reasoned
    /// suppression). TLS files are checked where they exist (examples/deploy names none).
    @Test(arguments: ["examples/ballast.yaml", "examples/ci/ballast.yaml", "examples/deploy/ballast.yaml"])
    func everyExampleConfigIsCleanUnderStrict(path: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var loaded = try ConfigLoader.load(file: root.appendingPathComponent(path).path).get()
        var findings = loaded.warnings
        findings += loaded.suppress(RunbookCheck.check(loaded.config) + RunbookReview.check(loaded.config))
        findings += loaded.staleLaterSuppressions(skipping: Set((Rule.tlsRules + Rule.preflightRules).map(\.id)))
        #expect(findings.isEmpty, "\(path): \(findings)")
        #expect(loaded.suppressions.allSatisfy { !$0.reason.isEmpty })
    }
}
