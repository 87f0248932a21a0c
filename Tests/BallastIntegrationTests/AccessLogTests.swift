import BallastConfig
import BallastProxy
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The access log through a real balancer to a real server (issue 24, part 1): JSON lines read
/// back field by field, the request id the same in the log and at the server, logrotate's
/// move followed on a reopen, and text lines that a client's path cannot split.
@Suite struct AccessLogTests {
    func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func lines(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "not JSON: \($0)")
        }
    }

    @Test func jsonLinesCarryEveryFieldAndTheRequestIdTheServerSaw() async throws {
        let dir = try directory()
        let backend = try await TestBackend.start("a")
        let port = try await freePort()
        // A relative path: next to the config file.
        let yaml = simpleConfig(port: port, servers: [backend.address], listenerExtra: "    access_log: { format: json, path: logs-access.json }")
        let config = try ConfigLoader.load(text: yaml, file: dir.appendingPathComponent("ballast.yaml").path,
                                           baseDirectory: dir.path).get().config
        let balancer = try LoadBalancer(config: config, threads: 1)
        try await balancer.start()
        let echoed = try await fetch(port: port, .GET, "/headers")
        let seenID = try #require(echoed.text.split(separator: "\n").first { $0.hasPrefix("x-request-id: ") }).dropFirst(14)
        var body = ByteBuffer()
        body.writeBytes([UInt8](repeating: 7, count: 5000))
        let uploaded = try await fetch(port: port, .POST, "/upload", body: body)
        #expect(uploaded.status == 200)
        #expect(try await fetch(port: port, .GET, "/status/503").status == 503)
        balancer.flushAccessLogs()
        let path = dir.appendingPathComponent("logs-access.json").path
        let records = try lines(path)
        #expect(records.count == 3, "\(records)")
        let first = try #require(records.first)
        for key in ["time", "listener", "route", "upstream", "server", "method", "path", "status", "bytes_in", "bytes_out",
                    "duration_ms", "request_id", "trace_id", "client", "retries"] {
            #expect(first.keys.contains(key), "no \(key) in \(first)")
        }
        #expect(first["listener"] as? String == "public" && first["route"] as? String == "all" && first["upstream"] as? String == "app")
        #expect(first["server"] as? String == backend.address)
        #expect(first["method"] as? String == "GET" && first["path"] as? String == "/headers" && first["status"] as? Int == 200)
        #expect(first["client"] as? String == "127.0.0.1" && first["retries"] as? Int == 0)
        #expect(first["request_id"] as? String == String(seenID), "log \(first["request_id"] ?? "") vs server \(seenID)")
        // The client gets the same id, once.
        #expect(echoed.headers["X-Request-Id"] == [String(seenID)], "\(echoed.headers)")
        #expect((first["bytes_out"] as? Int ?? 0) > echoed.text.utf8.count)
        #expect((first["duration_ms"] as? Double ?? -1) >= 0)
        #expect(ISO8601DateFormatter().date(from: (first["time"] as? String ?? "").replacingOccurrences(of: #"\.\d{3}Z"#, with: "Z", options: .regularExpression)) != nil)
        let upload = records[1]
        #expect(upload["method"] as? String == "POST" && (upload["bytes_in"] as? Int ?? 0) >= 5000, "\(upload)")
        #expect(records[2]["status"] as? Int == 503)
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    /// W3C Trace Context through the balancer: the client's trace id kept with a new span and
    /// its tracestate; a trace started when the client sent none (or an invalid one); the
    /// access log's trace_id is the trace the server saw.
    @Test func traceparentIsContinuedOrStartedAndLogged() async throws {
        let dir = try directory()
        let backend = try await TestBackend.start("a")
        let port = try await freePort()
        let yaml = simpleConfig(port: port, servers: [backend.address], listenerExtra: "    access_log: { format: json, path: \(dir.path)/a.json }")
        let balancer = try LoadBalancer(config: try ConfigLoader.load(text: yaml, file: "t.yaml").get().config, threads: 1)
        try await balancer.start()
        func seen(_ headers: [(String, String)]) async throws -> (parent: [String], state: String?) {
            let text = try await fetch(port: port, .GET, "/headers", headers: headers).text
            let lines = text.split(separator: "\n")
            let parent = lines.first { $0.hasPrefix("traceparent: ") }.map { $0.dropFirst(13).split(separator: "-").map(String.init) } ?? []
            let state = lines.first { $0.hasPrefix("tracestate: ") }.map { String($0.dropFirst(12)) }
            return (parent, state)
        }
        let client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let continued = try await seen([("traceparent", client), ("tracestate", "vendor=abc")])
        #expect(continued.parent.count == 4 && continued.parent[0] == "00" && continued.parent[1] == "4bf92f3577b34da6a3ce929d0e0e4736", "\(continued)")
        #expect(continued.parent[2] != "00f067aa0ba902b7" && continued.parent[2].count == 16 && continued.parent[3] == "01", "a new span: \(continued)")
        #expect(continued.state == "vendor=abc")
        let started = try await seen([])
        #expect(started.parent.count == 4 && started.parent[1].count == 32 && started.parent[1] != continued.parent[1], "\(started)")
        let invalid = try await seen([("traceparent", "00-BAD"), ("tracestate", "vendor=abc")])
        #expect(invalid.parent.count == 4 && invalid.parent[1] != "4bf92f3577b34da6a3ce929d0e0e4736" && invalid.state == nil, "\(invalid)")
        balancer.flushAccessLogs()
        try await Task.sleep(for: .milliseconds(300))
        let logged = try lines("\(dir.path)/a.json").map { $0["trace_id"] as? String }
        #expect(logged == [continued.parent[1], started.parent[1], invalid.parent[1]], "\(logged)")
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    /// Every response carries X-Request-Id: proxied ones (whose head is otherwise passed on as
    /// the server wrote it, or rewritten), the proxy's own (502, 400), one id each, never the
    /// server's own beside ours.
    @Test func everyResponseCarriesTheRequestId() async throws {
        let backend = try await TestBackend.start("a")
        let dead = try DeadPort()
        defer { dead.release() }
        let harness = try await ProxyHarness.start { simpleConfig(port: $0, servers: [backend.address]) }
        let nowhere = try await ProxyHarness.start { simpleConfig(port: $0, servers: ["127.0.0.1:\(dead.port)"]) }
        var ids: Set<String> = []
        for (port, path) in [(harness.port, "/"), (harness.port, "/status/418"), (harness.port, "/stream/100"), (nowhere.port, "/gone")] {
            let answer = try await fetch(port: port, .GET, path)
            let values: [String] = answer.headers["X-Request-Id"]
            #expect(values.count == 1 && values[0].count == 32, "\(path): \(answer.status) \(answer.headers)")
            ids.formUnion(values)
        }
        #expect(ids.count == 4, "one id per request: \(ids)")
        // A malformed request, answered before any route: 400 with an id too.
        let socket = try RawSocket(port: harness.port)
        socket.send("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        let raw = String(decoding: socket.readAll(), as: UTF8.self)
        socket.close()
        #expect(raw.hasPrefix("HTTP/1.1 400") && raw.contains("X-Request-Id: "), "\(raw)")
        await nowhere.stop()
        await harness.stop()
        await backend.stop()
    }

    @Test func aReopenFollowsLogrotateAndAReloadReopensToo() async throws {
        let dir = try directory()
        let backend = try await TestBackend.start("a")
        let port = try await freePort()
        let path = dir.appendingPathComponent("access.log").path
        let yaml = simpleConfig(port: port, servers: [backend.address], listenerExtra: "    access_log: { format: text, path: \(path) }")
        let config = try ConfigLoader.load(text: yaml, file: "t.yaml").get().config
        let balancer = try LoadBalancer(config: config, threads: 1)
        try await balancer.start()
        _ = try await fetch(port: port, .GET, "/before")
        balancer.flushAccessLogs()
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        balancer.reopenAccessLogs()  // what SIGUSR1 does
        _ = try await fetch(port: port, .GET, "/after")
        balancer.flushAccessLogs()
        try await Task.sleep(for: .milliseconds(300))
        let rotated = try String(contentsOfFile: path + ".1", encoding: .utf8)
        let fresh = try String(contentsOfFile: path, encoding: .utf8)
        #expect(rotated.contains("\"GET /before\"") && !rotated.contains("/after"), "\(rotated)")
        #expect(fresh.contains("\"GET /after\" 404") || fresh.contains("\"GET /after\""), "\(fresh)")
        // A reload reopens as well.
        try FileManager.default.moveItem(atPath: path, toPath: path + ".2")
        try await balancer.apply(config)
        _ = try await fetch(port: port, .GET, "/reloaded")
        balancer.flushAccessLogs()
        try await Task.sleep(for: .milliseconds(300))
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("/reloaded"))
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    @Test func aClientsPathCannotSplitALineOrForgeAField() async throws {
        let dir = try directory()
        let backend = try await TestBackend.start("a")
        let port = try await freePort()
        let text = dir.appendingPathComponent("access.log").path
        let yaml = simpleConfig(port: port, servers: [backend.address], listenerExtra: "    access_log: { format: text, path: \(text) }")
        let balancer = try LoadBalancer(config: try ConfigLoader.load(text: yaml, file: "t.yaml").get().config, threads: 1)
        try await balancer.start()
        let socket = try RawSocket(port: port)
        socket.send("GET /x\"%20status=200\u{7f}y HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = socket.read(upTo: 4096)
        socket.close()
        balancer.flushAccessLogs()
        try await Task.sleep(for: .milliseconds(300))
        let logged = try String(contentsOfFile: text, encoding: .utf8).split(separator: "\n")
        #expect(logged.count == 1, "\(logged)")
        #expect(!(logged.first ?? "").contains("\"GET /x\""), "a quote from the path closed the request field: \(logged)")
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    @Test func aLogThatCannotBeOpenedRefusesTheConfigAndSaysWhy() async throws {
        let backend = try await TestBackend.start("a")
        let yaml = simpleConfig(port: try await freePort(), servers: [backend.address],
                                listenerExtra: "    access_log: { format: json, path: /nonexistent-dir/access.log }")
        let config = try ConfigLoader.load(text: yaml, file: "t.yaml").get().config
        do {
            _ = try LoadBalancer(config: config, threads: 1)
            Issue.record("a log in a missing directory was accepted")
        } catch {
            #expect("\(error)".contains("/nonexistent-dir/access.log") && "\(error)".contains("No such file"), "\(error)")
        }
        await backend.stop()
    }
}
