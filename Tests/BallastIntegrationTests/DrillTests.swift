import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

@testable import BallastDrill

/// `ballast drill` end to end: a real `ballast up` (three replica processes), virtual users,
/// the seed's fault forced through the admin API, and the stack's own rollout reacting.
@Suite(.serialized)
struct DrillTests {
    @Test func theSeedsIncidentIsCaughtAndRolledBackWithoutLosingAnything() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path), "build the ballast executable first (scripts/test does)")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("drill-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        var runner = DrillRunner(scenario: try #require(Scenario.named("lb-misconfig")), executable: ballastExecutable, out: out)
        runner.users = 10
        runner.warmup = .seconds(5)
        runner.limit = .seconds(60)
        let lines = LinesBox()
        runner.progress = { lines.append($0) }
        let result = try await runner.run()
        #expect(result.passed, "scores: \(result.scores.map { "\($0.name)=\($0.value)" })\n\(lines.all.joined(separator: "\n"))")
        #expect(result.watch.seen["event:rollout.rolled_back"] != nil)
        #expect(result.requests > 100)
        #expect(result.timeToDetect.map { $0 <= 5 } == true)
        #expect(lines.all.contains { $0.contains("fault: config pushed with --force") })  // progress was shown

        let report = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("| time to detect |"))
        #expect(report.contains("**Passed**"))
        let postmortem = try String(contentsOf: out.appendingPathComponent("postmortem.md"), encoding: .utf8)
        #expect(postmortem.contains("## What changed before it"))
        #expect(postmortem.contains("`rollout.canary_started`"))  // the change, found for the human
        #expect(postmortem.contains("`drill.fault_injected`"))
        #expect(postmortem.contains("Resolution by automatic rollback"))
        let chart = try String(contentsOf: out.appendingPathComponent("timeline.svg"), encoding: .utf8)
        #expect(chart.contains(#"data-kind="rollout.rolled_back""#))
        // result.json: the scores for scripts, the type `drill run --format json` prints.
        let decoder = JSONDecoder()
        let summary = try decoder.decode(DrillSummary.self, from: Data(contentsOf: out.appendingPathComponent("result.json")))
        #expect(summary.scenario == "lb-misconfig" && summary.passed == result.passed && summary.requests == result.requests)
        #expect(summary.scores.map(\.name) == result.scores.map(\.name) && summary.timeToDetect == result.timeToDetect)
        // The throwaway stack is gone: nothing listens on its admin port any more.
        #expect(result.watch.faultSecond > 0)
    }

    /// PostgreSQL away under load, on a stack whose replicas run on the test PostgreSQL: noticed
    /// by an alert, and no replica is ejected or marked down for its database being away (their
    /// 503s carry Retry-After), so the stack serves again the moment the link is back.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"] != nil, "needs the test PostgreSQL"))
    func postgresAwayIsNoticedAndEjectsNoReplica() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("drill-pg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        var runner = DrillRunner(scenario: try #require(Scenario.named("postgres-away")), executable: ballastExecutable, out: out)
        runner.users = 10
        runner.warmup = .seconds(5)
        runner.limit = .seconds(60)
        runner.postgres = ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"]
        let lines = LinesBox()
        runner.progress = { lines.append($0) }
        let result = try await runner.run()
        let log = lines.all.joined(separator: "\n")
        #expect(result.passed, "scores: \(result.scores.map { "\($0.name)=\($0.value)" })\n\(log)")
        #expect(result.watch.seen["event:server.ejected"] == nil, "a replica was ejected for its database:\n\(log)")
        #expect(result.watch.seen["event:server.down"] == nil, "a replica was marked down for its database:\n\(log)")
        #expect(lines.all.contains { $0.contains("the link to PostgreSQL cut") })
        #expect(result.requests > 100)
    }

    @Test func postgresAwayWithoutAPostgreSQLIsAClearError() async throws {
        var runner = DrillRunner(scenario: try #require(Scenario.named("postgres-away")), executable: ballastExecutable,
                                 out: FileManager.default.temporaryDirectory.appendingPathComponent("drill-nopg-\(UUID().uuidString)"))
        runner.postgres = nil
        await #expect(throws: DrillError.self) { try await runner.run() }
    }

    /// A drill killed with -9 must not leave its throwaway stack running: `up --parent-pid` stops
    /// the balancer and its replicas when the process that started it is gone.
    @Test func aStackWhoseParentDiesStopsItself() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("orphan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        let stack = try DrillStack(executable: ballastExecutable, directory: directory, client: client)
        try stack.writeConfig()
        // A parent shell that starts the stack with its own pid, then is killed.
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = ["-c", #""$0" up --config "$1" --data "$2" --bcrypt-cost 4 --parent-pid $$ >"$2.log" 2>&1 & wait"#,
                           ballastExecutable.path, stack.configPath, directory.appendingPathComponent("data").path]
        try shell.run()
        try await waitUntilAsync(timeout: .seconds(60)) { (try? await stack.upstreamStatus())?.allHealthy == true }
        let replicas = stack.servers.compactMap { stack.replicaPID($0) }
        #expect(replicas.count == 3)
        kill(shell.processIdentifier, SIGKILL)
        shell.waitUntilExit()
        try await waitUntilAsync(timeout: .seconds(20)) {
            let adminGone = (try? await stack.upstreamStatus()) == nil
            return adminGone && replicas.allSatisfy { kill($0, 0) != 0 }
        }
    }

    @Test func anUnknownScenarioIsBadUsage() throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path))
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = ["drill", "run", "lb-misconfg"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 2)
        #expect(text.contains("unknown scenario 'lb-misconfg'"))
        #expect(text.contains("lb-misconfig"))
    }

    @Test func aDrillThatNeverDetectsMissesItsScores() {
        let scenario = Scenario.named("replica-crash")!
        var watch = Watch(scenario: scenario, faultSecond: 10, faultDate: Date())
        watch.observe(alerts: [], events: [], now: 40)
        let result = DrillResult(scenario: scenario, watch: watch, requests: 1000, failed: 30, sessionsLost: 2)
        #expect(!result.passed)
        let missed = result.scores.filter { !$0.met }.map(\.name)
        #expect(missed == ["time to detect", "time to recover", "requests failed", "sessions lost", "the right signal came up"])
        #expect(DrillReport(result: result).markdown().contains("**Missed**"))
    }
}

final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// The slow-server drill's fault: a TCP proxy that forwards both ways and adds latency on demand.
@Suite struct LatencyProxyTests {
    @Test func forwardsAtOnceThenAddsTheLatencySet() async throws {
        let backend = try await TestBackend.start("real")
        let port = try FreePorts.take(1)[0]
        let proxy = LatencyProxy(target: "127.0.0.1", port: backend.port)
        try await proxy.start(host: "127.0.0.1", port: port)
        // Ten fresh connections in a row: each is forwarded (no connection is left unread).
        for _ in 0..<10 {
            let response = try await fetchWithin(port: port, .GET, "/")
            #expect(response.status == 200)
        }
        proxy.setLatency(.milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        let slow = try await fetchWithin(port: port, .GET, "/")
        #expect(slow.status == 200)
        #expect(clock.now - start >= .milliseconds(600))  // request and response each held 300 ms
        proxy.setLatency(.zero)
        #expect(try await fetchWithin(port: port, .GET, "/").status == 200)
        await proxy.stop()
    }

    @Test func aTargetThatIsNotThereYetIsReachedOnceItIs() async throws {
        let ports = try FreePorts.take(2)
        let proxy = LatencyProxy(target: "127.0.0.1", port: ports[1])
        try await proxy.start(host: "127.0.0.1", port: ports[0])
        await #expect(throws: (any Error).self) { _ = try await fetchWithin(port: ports[0], .GET, "/") }
        let backend = try await TestBackend.start("late", port: ports[1])
        #expect(try await fetchWithin(port: ports[0], .GET, "/").status == 200)
        _ = backend
        await proxy.stop()
    }
}

struct FetchTimedOut: Error {}

/// `fetch` that gives up after `limit`, so a proxy that forwards nothing fails the test instead of hanging it.
/// The limit is generous: other suites' blocking process waits can hold both of this machine's
/// cooperative threads for seconds (a 5 s limit ran out in a full run), and the answer then
/// resumes after the timer.
func fetchWithin(port: Int, _ method: HTTPMethod, _ path: String, limit: Duration = .seconds(20)) async throws -> TestResponse {
    try await withThrowingTaskGroup(of: TestResponse?.self) { group in
        group.addTask { try await fetch(port: port, method, path) }
        group.addTask { try await Task.sleep(for: limit); return nil }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let response = first else { throw FetchTimedOut() }
        return response
    }
}

/// `ballast docs --admin` against a real running stack: the document of version 1, a server
/// removed through the admin API by someone, and the drift that names the version and author.
@Suite(.serialized) struct LiveDocsTests {
    func ballast(_ arguments: [String], tokenFile: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = arguments
        // The stack's generated token, found the way a user elsewhere would point at it.
        process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN_FILE": tokenFile]) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func driftOfTheRunningStackNamesTheVersionAndAuthor() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("live-docs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        let stack = try DrillStack(executable: ballastExecutable, directory: directory, client: client)
        try await stack.start()
        defer { Task { await stack.stop() } }
        let document = directory.appendingPathComponent("topology.md").path
        let token = directory.appendingPathComponent("data/admin.token").path
        let refused = try ballast(["docs", "--admin", stack.adminURL, "--out", document], tokenFile: "/nonexistent")
        #expect(refused.status == 2 && refused.output.contains("wants a token"), "\(refused.output)")
        let generated = try ballast(["docs", "--admin", stack.adminURL, "--out", document], tokenFile: token)
        #expect(generated.status == 0, "\(generated.output)")
        let clean = try ballast(["docs", "--admin", stack.adminURL, "--check", document], tokenFile: token)
        #expect(clean.status == 0, "\(clean.output)")

        // Someone removes the third server straight through the admin API.
        let removed = stack.servers[2]
        let yaml = stack.configYAML().components(separatedBy: "\n").filter { !$0.contains(removed) }.joined(separator: "\n")
        let applied = try await stack.admin(.POST, "/api/v1/config", body: yaml, contentType: "application/yaml")
        #expect(applied.status == 200, "\(String(decoding: applied.body, as: UTF8.self))")
        let check = try ballast(["docs", "--admin", stack.adminURL, "--check", document], tokenFile: token)
        #expect(check.status == 1)
        #expect(check.output.contains("the document lists 3 servers for upstream auth; the live config has 2: \(removed) was removed in version 2 by admin (as ballast drill)"),
                "\(check.output)")
        await stack.stop()
    }
}
