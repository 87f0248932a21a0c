import BallastAPI
import BallastConfig
import BallastControl
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The CLI for scripts (issue 24, part 6): `--format json` typed from the admin API's own types,
/// `events` paging through more than one page, `events --follow`, against a real `ballast lb`.
@Suite(.serialized) struct CLIForScriptsTests {
    static let token = "cli-scripts-test-token-0123456789abcdef"

    /// A running `ballast lb` with its admin API, in a directory of its own.
    struct Balancer {
        let process: Process
        let directory: URL
        let admin: String
        let adminPort: Int
        let yaml: (String) -> String

        static func start() async throws -> Balancer {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let backend = try await TestBackend.start("a")
            let port = try await freePort(), adminPort = try await freePort()
            let yaml = { (extra: String) in
                simpleConfig(port: port, servers: [backend.address])
                    .replacingOccurrences(of: "listen: 127.0.0.1:1 }", with: "listen: 127.0.0.1:\(adminPort) }") + "\nrollout: { watch: 300ms }\n" + extra
            }
            try yaml("").write(to: directory.appendingPathComponent("ballast.yaml"), atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = ballastExecutable
            process.arguments = ["lb", "--config", "ballast.yaml", "--threads", "1"]
            process.currentDirectoryURL = directory
            process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN": token]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await waitUntilAsync {
                (try? await fetch(port: adminPort, .GET, "/api/v1/status", headers: [("Authorization", "Bearer \(token)")]).status) == 200
            }
            return Balancer(process: process, directory: directory, admin: "http://127.0.0.1:\(adminPort)", adminPort: adminPort, yaml: yaml)
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }

        func note(_ message: String) async throws {
            let response = try await fetch(port: adminPort, .POST, "/api/v1/events",
                                           headers: [("Authorization", "Bearer \(CLIForScriptsTests.token)"), ("Content-Type", "application/json")],
                                           body: ByteBuffer(string: #"{"kind":"note.test","message":"\#(message)"}"#))
            #expect(response.status == 201)
        }

        /// Runs `ballast ARGUMENTS --admin URL` to its end, off the concurrency pool.
        func ballast(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            let (admin, directory) = (self.admin, self.directory)
            return try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result {
                        let process = Process()
                        process.executableURL = ballastExecutable
                        process.arguments = arguments + ["--admin", admin]
                        process.currentDirectoryURL = directory
                        process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN": CLIForScriptsTests.token]) { $1 }
                        let out = Pipe(), err = Pipe()
                        process.standardOutput = out
                        process.standardError = err
                        try process.run()
                        let data = out.fileHandleForReading.readDataToEndOfFile()
                        let errors = err.fileHandleForReading.readDataToEndOfFile()
                        process.waitUntilExit()
                        return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errors, as: UTF8.self))
                    })
                }
            }
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = ISOTime.decoding
        return try decoder.decode(type, from: Data(text.utf8))
    }

    @Test func eventsPageThroughEverythingAskedForAndFollowWhatComesNext() async throws {
        let balancer = try await Balancer.start()
        defer { balancer.stop() }
        // More than one page (1,000 a request), posted in order.
        let count = 2_345
        for index in 0..<count { try await balancer.note("n\(index)") }
        let expected = (0..<count).map { "n\($0)" }

        let text = try await balancer.ballast(["events", "--since", "10m"])
        #expect(text.status == 0, "\(text.stderr)")
        let notes = text.stdout.split(separator: "\n").filter { $0.contains("  note.test  ") }.map { String($0.split(separator: " ").last!) }
        #expect(notes == expected, "\(notes.count) lines for \(count) notes; first difference at \(Array(zip(notes, expected)).firstIndex { $0.0 != $0.1 } ?? -1)")

        let json = try await balancer.ballast(["events", "--since", "10m", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let events = try Self.decode(AdminReplies.Events.self, json.stdout).events
        #expect(events.filter { $0.kind == "note.test" }.map(\.message) == expected, "\(events.count) events")
        #expect(Set(events.compactMap(\.id)).count == events.count)  // nothing twice

        let newest = try await balancer.ballast(["events", "--since", "10m", "--newest-first", "--limit", "3", "--format", "json"])
        #expect(try Self.decode(AdminReplies.Events.self, newest.stdout).events.map(\.message) == ["n2344", "n2343", "n2342"])

        // Bad input: a clear error and exit 2.
        let bad = try await balancer.ballast(["events", "--since", "yesterday-ish"])
        #expect(bad.status == 2 && bad.stderr.contains("--since"), "\(bad)")

        // --follow: what is already there, then what comes, one JSON event per line.
        let follower = Process()
        follower.executableURL = ballastExecutable
        follower.arguments = ["events", "--since", "10m", "--follow", "--format", "json", "--admin", balancer.admin]
        follower.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN": Self.token]) { $1 }
        let out = balancer.directory.appendingPathComponent("follow.out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        follower.standardOutput = try FileHandle(forWritingTo: out)
        follower.standardError = FileHandle.nullDevice
        try follower.run()
        defer { if follower.isRunning { follower.terminate() } }
        func followed() -> [TimelineEvent] {
            ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { try? Self.decode(TimelineEvent.self, String($0)) }
        }
        try await waitUntilAsync { followed().filter { $0.kind == "note.test" }.count >= count }
        for index in count..<(count + 5) { try await balancer.note("n\(index)") }
        try await waitUntilAsync { followed().filter { $0.kind == "note.test" }.count >= count + 5 }
        try await Task.sleep(for: .milliseconds(1500))  // another poll or two: nothing is repeated
        follower.terminate()
        follower.waitUntilExit()
        let lines = ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(lines.count == followed().count, "every line is one event")
        let messages = followed().filter { $0.kind == "note.test" }.map(\.message)
        let wanted = (0..<(count + 5)).map { "n\($0)" }
        #expect(messages == wanted, "\(messages.count) lines for \(wanted.count) notes; first difference at \(Array(zip(messages, wanted)).firstIndex { $0.0 != $0.1 } ?? -1)")
    }

    @Test func statusHistoryAndApplyWriteTheAdminAPIsTypes() async throws {
        let balancer = try await Balancer.start()
        defer { balancer.stop() }
        let status = try await balancer.ballast(["status", "--format", "json"])
        #expect(status.status == 0, "\(status.stderr)")
        let report = try Self.decode(StatusReport.self, status.stdout)
        #expect(report.upstreams.map(\.name) == ["app"])
        #expect(report.upstreams.first?.servers.count == 1)

        // A file that does not load: its findings as JSON, exit 2, nothing applied.
        let bad = balancer.directory.appendingPathComponent("bad.yaml")
        try "version: 1\nlisteners: nope\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try await balancer.ballast(["apply", bad.path, "--format", "json"])
        #expect(refused.status == 2)
        let findings = try Self.decode(AdminReplies.Findings.self, refused.stdout)
        #expect(findings.error == "invalid_config" && !findings.findings.isEmpty)

        // A good change: promoted, the outcome typed.
        let good = balancer.directory.appendingPathComponent("good.yaml")
        try balancer.yaml("# a comment changes the text, so a new version\n").write(to: good, atomically: true, encoding: .utf8)
        let applied = try await balancer.ballast(["apply", good.path, "--format", "json"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let outcome = try Self.decode(RolloutController.Outcome.self, applied.stdout)
        #expect(outcome.outcome == .promoted && outcome.version >= 2)

        let history = try await balancer.ballast(["history", "--format", "json"])
        #expect(history.status == 0)
        let versions = try Self.decode(AdminReplies.History.self, history.stdout).versions
        #expect(versions.contains { $0.version == outcome.version })
        // The text forms still say the same in words.
        let text = try await balancer.ballast(["history"])
        #expect(text.stdout.contains("v\(outcome.version)"))
    }
}
