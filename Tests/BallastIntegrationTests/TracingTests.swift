import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Traces (issue 24, part 3): the balancer's hop and the auth service's request, login and
/// store calls as spans of one trace, sent over OTLP/HTTP to a collector that decodes them with
/// OpenTelemetry's own schema (`Tests/Fixtures/otlp/receiver.py`, opentelemetry-proto).
@Suite(.serialized) struct TracingTests {
    /// The receiver, running, and what it wrote (one JSON object per accepted span, or error).
    final class Collector: Sendable {
        let process: Process
        let port: Int
        let out: URL

        init() async throws {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/otlp/receiver.py").path
            out = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(UUID().uuidString).jsonl")
            process = Process()
            process.executableURL = URL(fileURLWithPath: try python(with: "opentelemetry.proto", package: "opentelemetry-proto (pip)"))
            process.arguments = [script, out.path]
            let stdout = Pipe()
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            let line = Mutex<String?>(nil)
            Thread.detachNewThread {
                let data = stdout.fileHandleForReading.availableData
                line.withLock { $0 = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
            }
            var port: Int?
            try await waitUntilAsync { port = line.withLock { $0 }.flatMap { Int($0) }; return port != nil }
            self.port = try #require(port)
        }

        var endpoint: String { "http://127.0.0.1:\(port)/v1/traces" }

        var lines: [[String: Any]] {
            ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }

        func spans(trace: String) -> [[String: Any]] { lines.filter { $0["trace_id"] as? String == trace } }

        func stop() {
            // SIGKILL: a child of the test process may start with SIGTERM blocked (inherited).
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test func theBalancerAndTheAuthServiceSendOneTraceToACollector() async throws {
        let collector = try await Collector()
        defer { collector.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-trace-\(UUID().uuidString)")
        let replicas = try await ReplicaProcesses(count: 1, database: dir.appendingPathComponent("auth.sqlite").path,
                                                  arguments: ["--otlp-endpoint", collector.endpoint])
        defer { replicas.stop() }
        let exporter = OTLPExporter(interval: .milliseconds(200))
        exporter.start()
        let proxy = try await ProxyHarness.start({ port in
            simpleConfig(port: port, servers: ["127.0.0.1:\(replicas.ports[0])"], route: "auth")
                + "\ntracing: { otlp_endpoint: \"\(collector.endpoint)\", service_name: edge }\n"
        }, spans: exporter)
        defer { Task { await proxy.stop(); await exporter.shutdown() } }

        // A client's sampled trace: continued by the balancer, then by the replica.
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736", clientSpan = "00f067aa0ba902b7"
        let registered = try await fetch(port: proxy.port, .POST, "/auth/register",
                                         headers: [("Content-Type", "application/json"), ("traceparent", "00-\(trace)-\(clientSpan)-01")],
                                         body: ByteBuffer(string: #"{"username":"tracy","password":"correct horse battery"}"#))
        #expect(registered.status == 201)
        // A client's unsampled trace: nobody records it.
        let quiet = "0af7651916cd43dd8448eb211c80319c"
        _ = try await fetch(port: proxy.port, .GET, "/auth/me", headers: [("traceparent", "00-\(quiet)-b7ad6b7169203331-00")])
        // No trace: the balancer starts one, sampled (sample_percent defaults to 100).
        #expect(try await fetch(port: proxy.port, .GET, "/auth/me").status == 401)

        try await waitUntilAsync {
            let spans = collector.spans(trace: trace)
            return spans.contains { $0["service"] as? String == "edge" } && spans.contains { ($0["name"] as? String)?.hasPrefix("store.") == true }
                && collector.lines.contains { $0["service"] as? String == "edge" && $0["parent_span_id"] is NSNull }
        }
        #expect(!collector.lines.contains { $0["error"] != nil }, "the collector refused: \(collector.lines.filter { $0["error"] != nil })")
        let spans = collector.spans(trace: trace)
        // The balancer's hop: a server span under the client's, with HTTP's attribute names.
        let hop = try #require(spans.first { $0["service"] as? String == "edge" }, "\(spans)")
        #expect(hop["parent_span_id"] as? String == clientSpan && hop["name"] as? String == "POST auth" && hop["kind"] as? Int == 2)
        let attributes = try #require(hop["attributes"] as? [String: Any])
        #expect(attributes["http.response.status_code"] as? String == "201" || attributes["http.response.status_code"] as? Int == 201)
        #expect(attributes["server.address"] as? String == "127.0.0.1:\(replicas.ports[0])")
        #expect(attributes["ballast.request_id"] as? String == registered.headers["X-Request-Id"].first)
        // The replica's request span is the hop's child; login/register and store calls below it.
        let hopID = try #require(hop["span_id"] as? String)
        let server = try #require(spans.first { $0["service"] as? String == "ballast-auth" && $0["kind"] as? Int == 2 }, "\(spans)")
        #expect(server["parent_span_id"] as? String == hopID)
        let register = try #require(spans.first { $0["name"] as? String == "auth.register" })
        #expect(register["parent_span_id"] as? String == server["span_id"] as? String)
        let store = try #require(spans.first { $0["name"] as? String == "store.createUser" })
        #expect(store["parent_span_id"] as? String == register["span_id"] as? String)
        #expect((store["attributes"] as? [String: Any])?["db.system"] as? String == "sqlite")
        for span in spans {
            let start = span["start"] as? Int ?? 0, end = span["end"] as? Int ?? 0
            #expect(start > 1_700_000_000_000_000_000 && end >= start, "\(span)")
        }
        // Unsampled: nothing from either side.
        #expect(collector.spans(trace: quiet).isEmpty)
        // Started by the balancer: a root span, and the replica's spans in the same trace.
        let root = try #require(collector.lines.first { $0["service"] as? String == "edge" && $0["parent_span_id"] is NSNull })
        let started = try #require(root["trace_id"] as? String)
        try await waitUntilAsync { collector.spans(trace: started).contains { $0["service"] as? String == "ballast-auth" } }
        // The replica's housekeeping (a session count every second) is no trace of its own.
        try await Task.sleep(for: .milliseconds(2500))
        #expect(!collector.lines.contains { $0["service"] as? String == "ballast-auth" && $0["parent_span_id"] is NSNull && $0["kind"] as? Int != 2 },
                "\(collector.lines.filter { $0["parent_span_id"] is NSNull })")
    }

    /// A config without `tracing:` builds no span and samples nothing, whatever the sink.
    @Test func withoutTracingNothingIsSent() async throws {
        let collector = try await Collector()
        defer { collector.stop() }
        let backend = try await TestBackend.start("a")
        let exporter = OTLPExporter(interval: .milliseconds(100))
        exporter.start()
        let proxy = try await ProxyHarness.start({ port in simpleConfig(port: port, servers: [backend.address]) }, spans: exporter)
        defer { Task { await proxy.stop(); await backend.stop() } }
        let echoed = try await fetch(port: proxy.port, .GET, "/headers",
                                     headers: [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])
        #expect(echoed.status == 200)
        // A trace the balancer starts stays unsampled (flags 00) without tracing.
        let started = try await fetch(port: proxy.port, .GET, "/headers")
        #expect(started.text.contains("traceparent: 00-") && started.text.split(separator: "\n").contains { $0.hasPrefix("traceparent:") && $0.hasSuffix("-00") })
        await exporter.flush()
        try await Task.sleep(for: .milliseconds(300))
        #expect(collector.lines.isEmpty)
    }
}
