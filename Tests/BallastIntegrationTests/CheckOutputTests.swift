import BallastConfig
import Foundation
import Testing

/// `ballast check` for CI and editors: SARIF 2.1.0 that the schema accepts and that says what
/// the text output says, `--explain` from the binary alone, and the exit codes.
@Suite struct CheckOutputTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/sarif")

    /// Runs the built `ballast` in `directory`; its status, stdout and stderr apart. The wait
    /// happens on a dispatch queue: a Swift concurrency thread blocked in `waitUntilExit` would
    /// starve the other suites' tasks (two threads on a two-core machine).
    func ballast(_ arguments: [String], in directory: String) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offThePool { try self.ballastNow(arguments, in: directory) }
    }

    func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    func ballastNow(_ arguments: [String], in directory: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errors, as: UTF8.self))
    }

    /// The schema validator's verdict on `log` ("valid", or the first error).
    func validate(_ log: String) async throws -> (status: Int32, output: String) {
        try await offThePool { try self.validateNow(log) }
    }

    func validateNow(_ log: String) throws -> (status: Int32, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).sarif").path
        try log.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try runTool(try Self.python(), [Self.fixtures.appendingPathComponent("validate.py").path, file],
                           package: "python3-jsonschema")
    }

    static func python() throws -> String { try BallastIntegrationTests.python(with: "jsonschema", package: "python3-jsonschema") }

    /// A directory with a config of errors and warnings, one of warnings and a suppression in a
    /// folder whose name needs percent-encoding (a config with errors reports no suppressions:
    /// it is not used), and the name of a missing one.
    func workspace() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sarif-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/conf dir", withIntermediateDirectories: true)
        try """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes:
                  - { name: app, match: { path_prefix: /app/ }, upstream: app }
                  - { name: lost, match: { path_prefix: /app/x }, upstream: app }
            upstreams:
              - name: app
                servers: [127.0.0.1:9101, 127.0.0.1:9102]
                health: { path: /healthz, interval: 2s, healthy_after: 50 }
                outlier: { consecutive_failures: 1000 }

            """.write(toFile: root + "/ballast.yaml", atomically: true, encoding: .utf8)
        try """
            version: 1
            listeners:
              - name: inner  # ballast: ignore BL019 only /spare/ is served here
                listen: 127.0.0.1:8081
                routes:
                  - { name: spare, match: { path_prefix: /spare/ }, upstream: spare }
            upstreams:
              - name: spare
                servers: [127.0.0.1:9201]
                health: { path: /healthz }

            """.write(toFile: root + "/conf dir/other.yaml", atomically: true, encoding: .utf8)
        return root
    }

    struct Log: Decodable {
        struct Run: Decodable {
            struct Tool: Decodable { struct Driver: Decodable { struct Rule: Decodable { var id: String; var help: Help? }; var name: String; var rules: [Rule] }; var driver: Driver }
            struct Help: Decodable { var markdown: String }
            struct Result: Decodable {
                struct Location: Decodable {
                    struct Physical: Decodable {
                        struct Artifact: Decodable { var uri: String }
                        struct Region: Decodable { var startLine: Int; var startColumn: Int }
                        var artifactLocation: Artifact
                        var region: Region?
                    }
                    var physicalLocation: Physical
                }
                struct Suppression: Decodable { var kind: String; var justification: String }
                var ruleId: String
                var ruleIndex: Int
                var level: String
                var locations: [Location]
                var suppressions: [Suppression]?
            }
            var tool: Tool
            var results: [Result]
        }
        var version: String
        var runs: [Run]
    }

    struct JSONReport: Decodable {
        struct Item: Decodable { var id: String; var severity: String; var file: String?; var line: Int?; var column: Int? }
        struct Suppressed: Decodable { var finding: Item; var reason: String }
        var findings: [Item]
        var suppressed: [Suppressed]
    }

    @Test func sarifOutputIsValidSARIFAndSaysWhatTheJSONOutputSays() async throws {
        let root = try workspace()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = ["ballast.yaml", "conf dir/other.yaml", "missing.yaml"]
        let sarif = try await ballast(["check", "--format", "sarif"] + files, in: root)
        #expect(sarif.status == 2, "an unreadable file makes the run unusable: \(sarif.stderr)")
        let verdict = try await validate(sarif.stdout)
        #expect(verdict.status == 0 && verdict.output.hasPrefix("valid"), "\(verdict.output)")

        let log = try JSONDecoder().decode(Log.self, from: Data(sarif.stdout.utf8))
        #expect(log.version == "2.1.0")
        let run = try #require(log.runs.first)
        #expect(run.tool.driver.name == "ballast")
        // Every rule of the catalogue is described, with its docs/rules.md section as help.
        #expect(Set(run.tool.driver.rules.map(\.id)).isSuperset(of: LintCatalogue.allRules.map(\.id)))
        #expect(run.tool.driver.rules.first { $0.id == "BL052" }?.help?.markdown.contains("```yaml BL052 bad") == true)

        let json = try JSONDecoder().decode(JSONReport.self, from: Data(try await ballast(["check", "--format", "json"] + files, in: root).stdout.utf8))
        let active = run.results.filter { $0.suppressions == nil }
        #expect(active.count == json.findings.count)
        for (result, item) in zip(active, json.findings) {
            #expect(result.ruleId == item.id && result.level == item.severity)
            #expect(run.tool.driver.rules[result.ruleIndex].id == result.ruleId, "ruleIndex must point at the rule")
            let region = result.locations.first?.physicalLocation.region
            #expect(region?.startLine == item.line && region?.startColumn == item.column, "\(result.ruleId) at \(String(describing: region)), JSON says \(String(describing: item.line)):\(String(describing: item.column))")
        }
        for id in ["BL018", "BL052", "BL053", "BL016", "BL025"] {
            #expect(active.contains { $0.ruleId == id }, "no \(id) result")
        }
        // A relative path stays relative, percent-encoded.
        #expect(active.contains { $0.locations.first?.physicalLocation.artifactLocation.uri == "conf%20dir/other.yaml" })
        // The suppressed finding is a result with its reason, as code scanning shows accepted ones.
        let accepted = run.results.filter { $0.suppressions != nil }
        #expect(accepted.map(\.ruleId) == ["BL019"])
        #expect(accepted.first?.suppressions?.first?.kind == "inSource")
        #expect(accepted.first?.suppressions?.first?.justification == json.suppressed.first?.reason)
    }

    /// The validator is not a rubber stamp: a log with a level SARIF does not have is refused.
    @Test func theSchemaRefusesALogThatBreaksIt() async throws {
        let root = try workspace()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sarif = try await ballast(["check", "--format", "sarif", "ballast.yaml"], in: root)
        #expect(sarif.stdout.contains("\"level\" : \"warning\""))
        let broken = sarif.stdout.replacingOccurrences(of: "\"level\" : \"warning\"", with: "\"level\" : \"severe\"")
        let verdict = try await validate(broken)
        #expect(verdict.status == 1 && verdict.output.contains("severe"), "\(verdict.output)")
    }

    @Test func exitCodesAreStable() async throws {
        let root = try workspace()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "version: 1\nlisteners: []\n".write(toFile: root + "/clean.yaml", atomically: true, encoding: .utf8)
        for format in ["text", "json", "sarif"] {
            #expect(try await ballast(["check", "--format", format, "clean.yaml"], in: root).status == 0)
            // Warnings only: 0, or 1 with --strict.
            #expect(try await ballast(["check", "--format", format, "conf dir/other.yaml"], in: root).status == 0)
            #expect(try await ballast(["check", "--format", format, "--strict", "conf dir/other.yaml"], in: root).status == 1)
            // BL018 is an error.
            #expect(try await ballast(["check", "--format", format, "ballast.yaml"], in: root).status == 1)
            #expect(try await ballast(["check", "--format", format, "missing.yaml"], in: root).status == 2)
        }
    }

    /// `--explain` prints the rule's section from the binary, wherever it runs.
    @Test func explainPrintsTheRulesSectionFromTheBinary() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("explain-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        for id in ["BL026", "bl052", "BL062"] {
            let result = try await ballast(["check", "--explain", id], in: empty)
            #expect(result.status == 0)
            #expect(result.stdout.hasPrefix("## \(id.uppercased()) — "))
            #expect(result.stdout.contains("```yaml \(id.uppercased()) bad") && result.stdout.contains("```yaml \(id.uppercased()) good"))
            #expect(!result.stdout.contains("\n## "), "one section only")
        }
        let unknown = try await ballast(["check", "--explain", "BL999"], in: empty)
        #expect(unknown.status == 2 && unknown.stderr.contains("no rule 'BL999'") && unknown.stdout.isEmpty)
        let nothing = try await ballast(["check"], in: empty)
        #expect(nothing.status != 0 && nothing.stderr.contains("--explain"))
    }
}
