import Foundation
import NIOHTTP1
import Testing

/// Database URLs carry passwords: `ballast auth` and `ballast lb` take them from a file or the
/// environment, so they never show in `ps`, and nothing they print repeats them.
@Suite struct SecretsOutOfArgvTests {
    /// The throwaway PostgreSQL when the suite has one (its URL has a password), else SQLite.
    var database: String {
        ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"]
            ?? "sqlite:" + NSTemporaryDirectory() + "ballast-secret-\(UUID().uuidString).sqlite"
    }

    func start(_ arguments: [String], environment: [String: String] = [:]) throws -> (Process, String) {
        let log = NSTemporaryDirectory() + "ballast-secret-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = arguments
        var inherited = ProcessInfo.processInfo.environment
        inherited["BALLAST_DATABASE"] = nil
        process.environment = inherited.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        return (process, log)
    }

    func commandLine(_ pid: Int32) -> String {
        ((try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()).map { $0 == 0 ? " " : String(UnicodeScalar($0)) }.joined()
    }

    @Test(arguments: ["file", "environment"]) func aReplicaTakesItsDatabaseOutOfArgv(_ how: String) async throws {
        let url = database
        let port = try await freePort()
        var arguments = ["auth", "--listen", "127.0.0.1:\(port)", "--bcrypt-cost", "4"]
        var environment: [String: String] = [:]
        if how == "file" {
            let file = NSTemporaryDirectory() + "ballast-db-\(UUID().uuidString)"
            #expect(FileManager.default.createFile(atPath: file, contents: Data((url + "\n").utf8), attributes: [.posixPermissions: 0o600]))
            arguments += ["--database-file", file]
        } else {
            environment["BALLAST_DATABASE"] = url
        }
        let (process, log) = try start(arguments, environment: environment)
        defer { process.terminate(); process.waitUntilExit() }
        try await waitUntilAsync { (try? await fetch(port: port, .GET, "/healthz").status) == 200 }
        #expect(!commandLine(process.processIdentifier).contains(url))
        #expect(commandLine(process.processIdentifier).contains("--listen"), "the command line was read")
        let printed = try String(contentsOfFile: log, encoding: .utf8)
        if url.hasPrefix("postgres://") { #expect(!printed.contains("ballast:ballast@"), "\(printed)") }
        #expect(!printed.contains("warning: --database"))
    }

    @Test func aPasswordOnTheCommandLineIsWarnedAboutAndNeverPrinted() async throws {
        let port = try await freePort(), dead = try await freePort()
        let (process, log) = try start(["auth", "--listen", "127.0.0.1:\(port)", "--database", "postgres://app:hunter2-secret@127.0.0.1:\(dead)/auth?pool=nonsense"])
        process.waitUntilExit()
        let printed = try String(contentsOfFile: log, encoding: .utf8)
        #expect(process.terminationStatus == 2)
        #expect(printed.contains("warning: --database carries a password"))
        #expect(!printed.contains("hunter2"), "\(printed)")
    }

    @Test func noDatabaseOrAnUnreadableFileIsAClearError() async throws {
        let port = try await freePort()
        let (none, noneLog) = try start(["auth", "--listen", "127.0.0.1:\(port)"])
        none.waitUntilExit()
        #expect(none.terminationStatus == 2)
        #expect(try String(contentsOfFile: noneLog, encoding: .utf8).contains("pass --database, --database-file or set $BALLAST_DATABASE"))
        let config = NSTemporaryDirectory() + "ballast-secret-\(UUID().uuidString).yaml"
        try simpleConfig(port: try await freePort(), servers: ["127.0.0.1:9"]).write(toFile: config, atomically: true, encoding: .utf8)
        let (missing, missingLog) = try start(["lb", "--config", config, "--state-file", "/nonexistent-state"])
        missing.waitUntilExit()
        #expect(missing.terminationStatus == 2)
        #expect(try String(contentsOfFile: missingLog, encoding: .utf8).contains("--state-file /nonexistent-state cannot be read"))
    }
}
