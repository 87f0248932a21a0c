import BallastConfig
import BallastProxy
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The built `ballast` executable (scripts/test builds it before the tests run).
let ballastExecutable: URL = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/ballast")
}()

/// Auth replicas as real processes on one SQLite file, as `ballast up` runs them.
///
/// Each binds port 0 and is asked where it is (its first line on standard output): a port
/// picked here and bound later can be taken in between by any of the tests running beside it.
final class ReplicaProcesses: Sendable {
    let processes: [Process]
    let ports: [Int]
    /// Each replica's standard error (its log).
    let errorLogs: [URL]

    struct DidNotStart: Error, CustomStringConvertible {
        let description: String
    }

    init(count: Int, database: String, arguments extra: [String] = []) async throws {
        var processes: [Process] = []
        var outputs: [(out: Pipe, err: URL)] = []
        let directory = URL(fileURLWithPath: database).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for index in 0..<count {
            let process = Process()
            process.executableURL = ballastExecutable
            process.arguments = ["auth", "--listen", "127.0.0.1:0", "--database", "sqlite:\(database)", "--bcrypt-cost", "4",
                                 "--parent-pid", String(getpid())] + extra
            let out = Pipe()
            let err = directory.appendingPathComponent("replica\(index).err")
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            process.standardOutput = out
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
            processes.append(process)
            outputs.append((out, err))
        }
        self.processes = processes
        errorLogs = outputs.map(\.err)
        var ports: [Int] = []
        for (index, output) in outputs.enumerated() {
            // "auth replica on http://127.0.0.1:PORT (database …)"
            let line = await Self.firstLine(of: output.out.fileHandleForReading, within: .seconds(30))
            guard let line, let url = line.split(separator: " ").first(where: { $0.hasPrefix("http://") }),
                  let port = Int(url.split(separator: ":").last ?? "") else {
                for process in processes where process.isRunning { process.terminate() }
                let stderr = (try? String(contentsOf: output.err, encoding: .utf8)) ?? ""
                throw DidNotStart(description: "replica \(index) did not report its port (stdout: \(line ?? "nothing"); stderr: \(stderr))")
            }
            ports.append(port)
        }
        self.ports = ports
    }

    /// The first line a process writes, or nil if it writes none in time (or exits first).
    /// A thread reads the pipe to its end, so later output never fills it.
    private static func firstLine(of handle: FileHandle, within timeout: Duration) async -> String? {
        let seen = Mutex<(bytes: [UInt8], ended: Bool)>(([], false))
        Thread.detachNewThread {
            while true {
                let chunk = handle.availableData
                seen.withLock { if chunk.isEmpty { $0.ended = true } else { $0.bytes += chunk } }
                if chunk.isEmpty { return }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (line, ended): (String?, Bool) = seen.withLock { state in
                guard let newline = state.bytes.firstIndex(of: UInt8(ascii: "\n")) else { return (nil, state.ended) }
                return (String(decoding: state.bytes[..<newline], as: UTF8.self), true)
            }
            if line != nil || ended { return line }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    func kill9(_ index: Int) { kill(processes[index].processIdentifier, SIGKILL) }

    func stop() {
        for process in processes where process.isRunning { process.terminate() }
        for process in processes { process.waitUntilExit() }
    }
}

func waitUntilAsync(timeout: Duration = .seconds(15), _ condition: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(await condition()) {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within \(timeout)")
            return
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}

@Suite(.serialized) struct StackIntegrationTests {
    @Test func killingOneReplicaUnderLoadLosesNoRequestAndNoSession() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path), "build the ballast executable first (scripts/test does)")
        let database = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-stack-\(UUID().uuidString)/auth.sqlite").path
        // Create the schema once, as `ballast up` does, then start three real replica processes.
        let replicas = try await ReplicaProcesses(count: 3, database: database)
        defer { replicas.stop() }
        let proxy = try await ProxyHarness.start { port in
            """
            version: 1
            admin: { listen: 127.0.0.1:1 }
            listeners:
              - name: public
                listen: 127.0.0.1:\(port)
                routes:
                  - name: auth
                    match: { path_prefix: /auth/ }
                    upstream: auth
                    retries: { attempts: 2, on: [connect-failure, "503"], budget_percent: 50 }
            upstreams:
              - name: auth
                balance: round_robin
                servers: [\(replicas.ports.map { "127.0.0.1:\($0)" }.joined(separator: ", "))]
                health: { path: /healthz, interval: 200ms, timeout: 150ms, healthy_after: 1, unhealthy_after: 2 }
                outlier: { consecutive_failures: 2, eject_for: 30s }
            """
        }
        let tokens = try await makeSessions(port: proxy.port, prefix: "user", count: 12)
        let failures = Tally(), successes = Tally(), doneAtKill = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    try await withConnection(port: proxy.port) { connection in
                        for i in 0..<60 {
                            let token = tokens[(worker * 60 + i) % tokens.count]
                            let response = try await connection.request(.GET, "/auth/me", headers: [("Authorization", "Bearer \(token)")])
                            if response.status == 200 { successes.add() } else { failures.add() }
                        }
                    }
                }
            }
            group.addTask {
                try await waitUntilAsync { successes.count >= 40 }
                replicas.kill9(1)
                for _ in 0..<successes.count { doneAtKill.add() }
            }
            try await group.waitForAll()
        }
        #expect(failures.count == 0)
        #expect(successes.count == 240)
        // The kill landed mid-load: most requests came after it.
        #expect(doneAtKill.count < 120, "\(doneAtKill.count) of 240 were done before the kill")
        replicas.processes[1].waitUntilExit()
        #expect(replicas.processes[1].terminationReason == .uncaughtSignal)
        // Every session is still valid through the two replicas left.
        for token in tokens {
            #expect(try await fetch(port: proxy.port, .GET, "/auth/me", headers: [("Authorization", "Bearer \(token)")]).status == 200)
        }
        await proxy.stop()
    }
}
