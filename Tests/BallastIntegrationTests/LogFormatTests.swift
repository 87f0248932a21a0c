import BallastConfig
import BallastProxy
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Logs for machines (issue 24, part 7) and the auth service's half of request identity
/// (part 2): real `ballast` processes with `--log-format json|logfmt`, their stderr read back
/// line by line.
@Suite struct LogFormatTests {
    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-logfmt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Every line of a log, each of which must be one JSON object.
    func jsonLines(_ url: URL) throws -> [[String: Any]] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "not a JSON object: \($0)")
        }
    }

    /// The auth replica logs one line per request with the trace id the balancer sent, which is
    /// the client's own trace; the request id is the one the client got back.
    @Test func theAuthServiceLogsEachRequestWithTheTraceTheBalancerContinued() async throws {
        let dir = try directory()
        let replicas = try await ReplicaProcesses(count: 1, database: dir.appendingPathComponent("auth.sqlite").path,
                                                  arguments: ["--log-format", "json"])
        defer { replicas.stop() }
        let proxy = try await ProxyHarness.start { port in
            simpleConfig(port: port, servers: ["127.0.0.1:\(replicas.ports[0])"])
        }
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let response = try await fetch(port: proxy.port, .POST, "/auth/register",
                                       headers: [("Content-Type", "application/json"), ("traceparent", "00-\(trace)-00f067aa0ba902b7-01")],
                                       body: ByteBuffer(string: #"{"username":"tracy","password":"correct horse battery"}"#))
        #expect(response.status == 201)
        let requestID = try #require(response.headers["X-Request-Id"].first)
        // A request without a trace: the balancer starts one, and the replica logs that one.
        #expect(try await fetch(port: proxy.port, .GET, "/auth/me").status == 401)
        await proxy.stop()
        var lines: [[String: Any]] = []
        try await waitUntilAsync {
            lines = (try? jsonLines(replicas.errorLogs[0])) ?? []
            return lines.filter { $0["message"] as? String == "request" }.count >= 2
        }
        let requests = lines.filter { $0["message"] as? String == "request" }
        let register = try #require(requests.first { $0["path"] as? String == "/auth/register" }, "\(lines)")
        #expect(register["trace_id"] as? String == trace)
        #expect(register["request_id"] as? String == requestID)
        #expect(register["status"] as? String == "201" && register["method"] as? String == "POST")
        #expect(register["level"] as? String == "info" && register["time"] != nil && register["logger"] != nil)
        let me = try #require(requests.first { $0["path"] as? String == "/auth/me" })
        let started = try #require(me["trace_id"] as? String)
        #expect(started.count == 32 && started != trace)
        #expect(me["status"] as? String == "401")
        // Every line (start-up included) is JSON, checked by jsonLines above; nothing went as text.
        #expect(lines.contains { ($0["message"] as? String)?.contains("request") == false })
    }

    /// `ballast lb --log-format logfmt`: every line is `key=value` pairs that a logfmt parser
    /// reads back, with the fixed fields first.
    @Test func theBalancerWritesLogfmt() async throws {
        let dir = try directory()
        let port = try await freePort()
        let admin = try await freePort()
        let deadPort = try DeadPort()
        defer { deadPort.release() }
        let dead = deadPort.port
        let config = dir.appendingPathComponent("ballast.yaml")
        try simpleConfig(port: port, servers: ["127.0.0.1:\(dead)"], extraUpstream: "    health: { path: /healthz, interval: 200ms }").replacingOccurrences(of: "listen: 127.0.0.1:1 }", with: "listen: 127.0.0.1:\(admin) }")
            .write(to: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = ["lb", "--config", config.path, "--log-format", "logfmt", "--threads", "1"]
        process.currentDirectoryURL = dir
        process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN": "logfmt-test-token-0123456789"]) { $1 }
        let err = dir.appendingPathComponent("lb.err")
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        // The server is down: the health check logs it.
        try await waitUntilAsync { ((try? String(contentsOf: err, encoding: .utf8)) ?? "").contains("healthy=false") }
        process.terminate()
        process.waitUntilExit()
        let text = try String(contentsOf: err, encoding: .utf8)
        let records = text.split(separator: "\n").map { LogfmtReader.parse(String($0)) }
        #expect(!records.isEmpty)
        for (line, record) in zip(text.split(separator: "\n"), records) {
            #expect(record?["time"] != nil && record?["level"] != nil && record?["msg"] != nil, "not logfmt: \(line)")
        }
        #expect(records.contains { $0?["server"] == "127.0.0.1:\(dead)" && $0?["healthy"] == "false" }, "\(text)")
        // The config's warning (one server) is a record too, with its rule.
        #expect(records.contains { $0?["level"] == "warning" && $0?["rule"] == "BL025" }, "\(text)")
    }
}

/// A strict logfmt reader: `key=value` separated by single spaces, a value bare or in double
/// quotes with `\"`, `\\` and `\n`-style escapes. nil for a line that is not that.
enum LogfmtReader {
    static func parse(_ line: String) -> [String: String]? {
        var fields: [String: String] = [:]
        var rest = Substring(line)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), !rest[..<equals].contains(" ") else { return nil }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var closed = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if character == "\\" {
                        guard let escaped = rest.first else { return nil }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "n": value.append("\n")
                        case "r": value.append("\r")
                        case "t": value.append("\t")
                        case "u":
                            guard rest.count >= 4, let scalar = UInt32(rest.prefix(4), radix: 16).flatMap(Unicode.Scalar.init) else { return nil }
                            value.unicodeScalars.append(scalar)
                            rest = rest.dropFirst(4)
                        default: value.append(escaped)
                        }
                    } else if character == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(character)
                    }
                }
                guard closed else { return nil }
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                guard !value.isEmpty, !value.contains("\"") else { return nil }
                rest = rest[end...]
            }
            fields[key] = value
            if rest.first == " " { rest = rest.dropFirst(); if rest.isEmpty { return nil } } else if !rest.isEmpty { return nil }
        }
        return fields
    }
}
