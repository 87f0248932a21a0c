import Foundation
import Testing
@testable import BallastConfig

/// `# ballast: ignore BL0NN reason`: on a line, on the block a line opens, alone before a line;
/// refused without a reason or for an error; reported when stale.
@Suite struct SuppressionTests {
    func config(listener: String = "  - name: public", route: String = "      - { name: auth, match: { path_prefix: /auth/ }, upstream: app }",
                upstream: String = "  - name: app", extra: String = "") -> String {
        """
        version: 1
        listeners:
        \(listener)
            listen: 127.0.0.1:8080
            routes:
        \(route)
        upstreams:
        \(upstream)
            servers: [127.0.0.1:9101, 127.0.0.1:9102]
            health: { path: /healthz }
        \(extra)
        """
    }

    func load(_ text: String) throws -> ConfigLoader.Loaded {
        try ConfigLoader.load(text: text, file: "s.yaml").get()
    }

    @Test func withoutASuppressionTheWarningStands() throws {
        #expect(try load(config()).warnings.map(\.ruleID) == ["BL019"])
    }

    @Test func aSuppressionOnTheLineThatOpensTheBlockCoversItsFinding() throws {
        let loaded = try load(config(listener: "  - name: public  # ballast: ignore BL019 only the auth API is served"))
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.suppressed.map(\.ruleID) == ["BL019"])
        #expect(loaded.suppressions.first?.reason == "only the auth API is served")
        #expect(loaded.suppressions.first?.firstLine == 3 && loaded.suppressions.first?.lastLine == 6)
    }

    @Test func aSuppressionAloneOnALineCoversTheNextLinesBlock() throws {
        let loaded = try load(config(listener: "  # ballast: ignore BL019 auth only\n  - name: public"))
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        #expect(loaded.suppressed.count == 1)
    }

    @Test func aSuppressionOnAnEnclosingBlockCoversFindingsInside() throws {
        // BL019 points at the listener's name, inside the `listeners:` block.
        let text = config().replacingOccurrences(of: "listeners:\n", with: "listeners:  # ballast: ignore BL019 one internal API\n")
        #expect(try load(text).warnings.isEmpty)
    }

    @Test func aSuppressionElsewhereDoesNotCoverTheFindingAndIsStale() throws {
        let loaded = try load(config(upstream: "  - name: app  # ballast: ignore BL019 misplaced"))
        #expect(loaded.warnings.map(\.ruleID).sorted() == ["BL019", "BL050"], "\(loaded.warnings)")
        let stale = try #require(loaded.warnings.first { $0.ruleID == "BL050" })
        #expect(stale.location?.line == 8 && stale.message.contains("misplaced"))
    }

    @Test func aSuppressionOfAnotherRuleDoesNotCoverTheFinding() throws {
        let loaded = try load(config(listener: "  - name: public  # ballast: ignore BL020 wrong rule"))
        #expect(loaded.warnings.map(\.ruleID).sorted() == ["BL019", "BL050"])
    }

    @Test func aSuppressionWithoutAReasonIsRefused() throws {
        let loaded = try load(config(listener: "  - name: public  # ballast: ignore BL019"))
        #expect(loaded.warnings.map(\.ruleID).sorted() == ["BL019", "BL049"], "\(loaded.warnings)")
        #expect(loaded.warnings.first { $0.ruleID == "BL049" }?.message.contains("gives no reason") == true)
        #expect(loaded.suppressed.isEmpty)
    }

    @Test func errorsAndUnknownRulesCannotBeSuppressed() throws {
        let text = config(route: "      - { name: auth, match: { path_prefix: /auth/ }, upstream: nope }  # ballast: ignore BL007 trust me")
        guard case .failure(let error) = ConfigLoader.load(text: text, file: "s.yaml") else {
            Issue.record("a config with an error loaded")
            return
        }
        #expect(error.findings.contains { $0.ruleID == "BL007" })
        #expect(error.findings.contains { $0.ruleID == "BL049" && $0.message.contains("is an error and cannot be suppressed") })
        let unknown = try load(config(listener: "  - name: public  # ballast: ignore BL999 no such rule"))
        #expect(unknown.warnings.contains { $0.ruleID == "BL049" && $0.message.contains("not a rule id") })
    }

    @Test func aSuppressionOfAnErrorFoundByCheckNeverApplies() throws {
        var loaded = try load(config(listener: "  - name: public  # ballast: ignore BL019 auth only",
                                     extra: "alerts:\n  rules:\n    - { name: A, signal: healthy_share, upstream: app, below: 50%, runbook: gone.md }  # ballast: ignore BL042 written later"))
        // BL042 is an error: a suppression of it never applies, and check reports it.
        #expect(loaded.warnings.map(\.ruleID) == ["BL049"], "\(loaded.warnings)")
        let missing = RunbookCheck.check(loaded.config, directory: "/nonexistent")
        #expect(loaded.suppress(missing).map(\.ruleID) == ["BL042"])
    }

    @Test func aSuppressionOfAFileRuleIsStaleOnlyWhenCheckFindsNothing() throws {
        let text = config(listener: "  - name: public  # ballast: ignore BL019 auth only",
                          extra: "runbooks: { review_interval: 90d }  # ballast: ignore BL048 reviewed quarterly by the platform team")
        var loaded = try load(text)
        #expect(loaded.suppress([]).isEmpty)
        #expect(loaded.staleLaterSuppressions().map(\.ruleID) == ["BL050"])
        let overdue = Finding(rule: .runbookReviewOverdue, message: "late", at: SourceLocation(file: "s.yaml", line: 11, column: 1))
        var again = try load(text)
        #expect(again.suppress([overdue]).isEmpty)
        #expect(again.staleLaterSuppressions().isEmpty)
    }
}
