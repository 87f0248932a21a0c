import Foundation
import Testing

@testable import BallastConfig

/// Runbooks as reviewed protocols: BL044–BL048 on real files, and the shipped runbooks.
@Suite struct RunbookTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let today = Runbook.day("2026-12-01")!

    /// A directory with `files` under runbooks/, and a config whose alerts point there.
    func check(_ files: [String: String], alerts: String, reviewInterval: String = "90d") throws -> [Finding] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runbooks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("runbooks"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, text) in files { try text.write(to: directory.appendingPathComponent("runbooks/\(name)"), atomically: true, encoding: .utf8) }
        let yaml = """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes: [{ name: all, match: { path_prefix: / }, upstream: app }]
            upstreams:
              - { name: app, servers: [127.0.0.1:9101, 127.0.0.1:9102], health: { path: /healthz } }
            runbooks: { review_interval: \(reviewInterval) }
            alerts:
              rules:
            \(alerts)
            """
        let config = try ConfigLoader.load(text: yaml, file: "t.yaml").get().config
        return RunbookReview.check(config, directory: directory.path, today: Self.today)
    }

    func front(_ alerts: String, reviewed: String = "2026-11-20", owner: String = "oncall") -> String {
        "---\nalerts: [\(alerts)]\nowner: \(owner)\nreviewed: \(reviewed)\n---\n# Runbook\n"
    }

    let down = "    - { name: AppDown, signal: healthy_share, upstream: app, below: 50%, runbook: runbooks/app-down.md }"

    @Test func aCleanRunbookHasNoFinding() throws {
        #expect(try check(["app-down.md": front("AppDown") + "Look at upstream 'app' and 127.0.0.1:9101.\n"], alerts: down).isEmpty)
    }

    @Test func eachKindOfStaleRunbookIsFound() throws {
        let findings = try check([
            "app-down.md": front("AppDown") + "Check upstream 'payments' and server 127.0.0.1:9999, then route `checkout`.\n",
            "old-alert.md": front("DiskFull"),
            "notes.md": "# Not a runbook\n",
        ], alerts: down)
        let ids = findings.map(\.ruleID)
        #expect(ids.sorted() == ["BL046", "BL047"], "\(findings)")
        let named = try #require(findings.first { $0.ruleID == "BL047" })
        #expect(named.message.contains("route 'checkout'") && named.message.contains("upstream 'payments'") && named.message.contains("server 127.0.0.1:9999"))
        #expect(findings.first { $0.ruleID == "BL046" }?.message.contains("'DiskFull'") == true)
    }

    @Test func aRunbookThatDoesNotServeItsAlertOrLacksFrontMatter() throws {
        let other = try check(["app-down.md": front("SomethingElse")], alerts: down)
        #expect(other.map(\.ruleID).sorted() == ["BL045", "BL046"], "\(other)")
        let bare = try check(["app-down.md": "# Runbook without front matter\n"], alerts: down)
        #expect(bare.map(\.ruleID) == ["BL044"])
        let partial = try check(["app-down.md": "---\nalerts: [AppDown]\n---\n"], alerts: down)
        #expect(partial.first?.message.contains("lacks owner, reviewed") == true)
    }

    @Test func aReviewOlderThanTheIntervalIsOverdue() throws {
        let old = try check(["app-down.md": front("AppDown", reviewed: "2026-08-01")], alerts: down)
        #expect(old.map(\.ruleID) == ["BL048"])
        #expect(old.first?.message.contains("122 days ago, beyond the review interval of 90d") == true)
        #expect(old.first?.fix?.contains("(oncall)") == true)
        #expect(try check(["app-down.md": front("AppDown", reviewed: "2026-08-01")], alerts: down, reviewInterval: "180d").isEmpty)
    }

    /// Every default alert has a shipped runbook that lists it, with the four parts on-call needs.
    @Test func theShippedRunbooksServeEveryDefaultAlert() throws {
        let config = try ConfigLoader.load(text: Config.defaultStackYAML, file: "default.yaml").get().config
        for rule in config.alerts.rules {
            let text = try String(contentsOf: Self.root.appendingPathComponent("docs").appendingPathComponent(rule.runbook), encoding: .utf8)
            let runbook = Runbook(path: rule.runbook, text: text)
            #expect(runbook.problem == nil, "\(rule.runbook): \(runbook.problem ?? "")")
            #expect(runbook.alerts?.contains(rule.name) == true, "\(rule.runbook) does not list \(rule.name)")
            for heading in ["## What it means", "## First three things to look at", "## Mitigate", "## Roll back"] {
                #expect(text.contains(heading), "\(rule.runbook) has no '\(heading)'")
            }
            #expect(text.contains("`ballast "), "\(rule.runbook) names no ballast command")
        }
        let reviewed = try #require(Runbook.day("2026-11-26"))
        #expect(RunbookReview.check(config, directory: Self.root.appendingPathComponent("docs").path, today: reviewed).isEmpty)
    }

    /// docs/runbooks/ is the one source of the runbooks built into the binary: scripts/gen-runbooks
    /// writes ShippedRunbooks.swift from it, and this fails when someone edited one and not the other.
    @Test func theBuiltInRunbooksAreDocsRunbooks() throws {
        let folder = Self.root.appendingPathComponent("docs/runbooks")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".md") }.sorted()
        #expect(names == ShippedRunbooks.files.keys.sorted(), "run scripts/gen-runbooks")
        for name in names {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(ShippedRunbooks.text(ShippedRunbooks.reference(name)) == text, "\(name) differs from the built-in copy: run scripts/gen-runbooks")
        }
    }

    /// `ballast up` writes editable copies: a copy the user changed is never overwritten, and a
    /// fresh copy's review clock starts the day it is written, so the stack passes `--strict`.
    @Test func copiesAreWrittenOnceAndStampedWithTheirDay() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("copies-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let written = try ShippedRunbooks.writeCopies(into: directory.path, today: Self.today)
        #expect(written == ShippedRunbooks.files.keys.sorted())
        let edited = directory.appendingPathComponent("latency-high.md")
        try "---\nalerts: [LatencyHigh]\nowner: us\nreviewed: 2026-11-30\n---\n# ours\n".write(to: edited, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: directory.appendingPathComponent("error-rate-high.md"))
        #expect(try ShippedRunbooks.writeCopies(into: directory.path, today: Self.today) == ["error-rate-high.md"])
        #expect(try String(contentsOf: edited, encoding: .utf8).contains("# ours"))
        let copy = Runbook(path: "x", text: try String(contentsOf: directory.appendingPathComponent("error-rate-high.md"), encoding: .utf8))
        #expect(copy.reviewed == Self.today && copy.problem == nil && copy.owner == "auth-oncall")
    }
}

/// A runbook is a Markdown file in a runbook directory, never any file: otherwise a config could
/// make `GET /api/v1/runbook` serve a TLS or SSH key, and BL042 would tell whether a file exists.
@Suite struct RunbookPathTests {
    func config(_ runbook: String, directories: String = "", base: String) throws -> Config {
        let yaml = """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes: [{ name: all, match: { path_prefix: / }, upstream: app }]
            upstreams:
              - { name: app, servers: [127.0.0.1:9101, 127.0.0.1:9102], health: { path: /healthz } }
            \(directories)
            alerts:
              rules:
                - { name: AppDown, signal: healthy_share, upstream: app, below: 50%, runbook: "\(runbook)" }
            """
        return try ConfigLoader.load(text: yaml, file: "t.yaml", baseDirectory: base).get().config
    }

    @Test func filesOutsideTheRunbookDirectoriesAreRefusedWithoutLookingAtThem() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rbpath-\(UUID().uuidString)")
        let conf = root.appendingPathComponent("conf"), elsewhere = root.appendingPathComponent("shared")
        for folder in [conf, elsewhere] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(at: root) }
        let front = "---\nalerts: [AppDown]\nowner: x\nreviewed: 2026-12-01\n---\n# AppDown\n"
        try front.write(to: elsewhere.appendingPathComponent("down.md"), atomically: true, encoding: .utf8)
        try "secret".write(to: conf.appendingPathComponent("key.pem"), atomically: true, encoding: .utf8)
        try front.write(to: conf.appendingPathComponent("down.md"), atomically: true, encoding: .utf8)

        #expect(RunbookCheck.check(try config("down.md", base: conf.path)).isEmpty)
        // An existing file and a missing one outside: the same answer, so nothing is revealed.
        let existing = RunbookCheck.check(try config("/etc/passwd", base: conf.path))
        let missing = RunbookCheck.check(try config("/etc/no-such-file-\(UUID().uuidString)", base: conf.path))
        #expect(existing.first?.message.contains("is outside the runbook directories") == true, "\(existing)")
        #expect(missing.first?.message.contains("is outside the runbook directories") == true)
        #expect(RunbookCheck.check(try config("../shared/down.md", base: conf.path)).first?.message.contains("outside") == true)
        #expect(RunbookCheck.check(try config("runbooks/../../shared/down.md", base: conf.path)).first?.message.contains("outside") == true)
        // Inside, but not Markdown.
        #expect(RunbookCheck.check(try config("key.pem", base: conf.path)).first?.message.contains("is not a Markdown (.md) file") == true)
        // A directory the config lists is allowed.
        let listed = try config("../shared/down.md", directories: "runbooks: { directories: [../shared] }", base: conf.path)
        #expect(RunbookCheck.check(listed).isEmpty)
        #expect(RunbookCheck.text(of: "../shared/down.md", in: listed)?.contains("# AppDown") == true)
        // What the admin API serves goes through the same gate.
        #expect(RunbookCheck.text(of: "/etc/passwd", in: try config("/etc/passwd", base: conf.path)) == nil)
        #expect(RunbookCheck.text(of: "key.pem", in: try config("key.pem", base: conf.path)) == nil)
    }
}
