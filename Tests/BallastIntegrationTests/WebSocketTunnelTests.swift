import BallastConfig
import BallastProxy
import Foundation
import NIOHTTP1
import Testing

/// A WebSocket peer from `Tests/Fixtures/websocket/ws.py` (Debian's python3-websockets): an echo
/// server, or one that answers every request with an unasked 101.
final class WebSocketPeer: Sendable {
    let process: Process
    let port: Int

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/websocket/ws.py").path

    static func python() throws -> String { try BallastIntegrationTests.python(with: "websockets", package: "python3-websockets") }

    static func start(_ mode: String = "serve") async throws -> WebSocketPeer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = [script, mode, "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = try await Task.detached { () throws -> String in
            var bytes: [UInt8] = []
            while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") {
                bytes.append(byte)
            }
            return String(decoding: bytes, as: UTF8.self)
        }.value
        guard line.hasPrefix("ready "), let port = Int(line.dropFirst(6)) else {
            process.terminate()
            throw ToolError(description: "ws.py \(mode) did not start: '\(line)'")
        }
        return WebSocketPeer(process: process, port: port)
    }

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    func stop() { process.terminate() }

    /// Runs a client scenario of ws.py against `url`; its JSON report.
    static func run(_ url: String, _ scenario: String, _ argument: String? = nil) async throws -> [String: any Sendable] {
        let python = try python()
        return try await Task.detached { () throws -> [String: any Sendable] in
            let result = try runTool(python, [script, "run", url, scenario] + (argument.map { [$0] } ?? []), package: "python3-websockets")
            guard let line = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                  let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { throw ToolError(description: "ws.py run \(scenario): \(result.output)") }
            return report.mapValues { "\($0)" }
        }.value
    }
}

/// WebSocket through the balancer with real peers (python3-websockets on both sides): the
/// Upgrade goes through on routes that allow it, the 101 turns both connections into a tunnel,
/// and the tunnel ends the way each side or a timeout ends it. One test at a time: a thousand
/// tunnels, and the peers being processes of their own, would skew the timing of the others.
@Suite(.serialized) struct WebSocketTunnelTests {
    init() {
        _ = TestMetrics.registry
    }

    func config(_ port: Int, server: Int, tag: String, route: String = "", accessLog: String? = nil) -> String {
        """
        version: 1
        listeners:
          - name: web
            listen: 127.0.0.1:\(port)
            \(accessLog.map { "access_log: { format: json, path: \($0) }" } ?? "")
            limits: { max_connections: 4000, max_connections_per_client: 4000 }
            routes:
              - { name: ws-\(tag), match: { path_prefix: /ws }, upstream: app\(route) }
              - { name: plain-\(tag), match: { path_prefix: /plain }, upstream: app, upgrades: [] }
        upstreams:
          - name: app
            servers: [127.0.0.1:\(server)]
        """
    }

    /// Waits until `route` has a tunnel open (the client is a process of its own, slow to start
    /// on a busy machine).
    func untilTunnelOpen(_ route: String) async throws {
        for _ in 0..<200 {
            if (metric("ballast_tunnels_open", "route=\"\(route)\"") ?? 0) >= 1 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no tunnel opened on \(route)")
    }

    /// The value of the series of `name` whose labels include every one of `labels`.
    func metric(_ name: String, _ labels: String...) -> Double? {
        TestMetrics.text.split(separator: "\n").first { line in line.hasPrefix(name + "{") && labels.allSatisfy { line.contains($0) } }
            .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
    }

    @Test func textBinaryAndALargeMessageEchoThroughATunnel() async throws {
        let server = try await WebSocketPeer.start()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-ws-\(tag).json").path
        let proxy = try await ProxyHarness.start { self.config($0, server: server.port, tag: String(tag), accessLog: log) }
        defer { Task { await proxy.stop(); server.stop() } }
        let report = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "echo")
        #expect(report["text"] as? String == "hello")
        #expect(report["binary_ok"] as? String == "1")
        #expect(report["large_ok"] as? String == "1")
        #expect(report["close_code"] as? String == "1000")
        // Counted: the handshake as a 101, the bytes both ways (the 1 MiB message each way), the close.
        try await Task.sleep(for: .milliseconds(100))
        #expect(metric("ballast_requests_total", "route=\"ws-\(tag)\"") != nil)
        #expect(TestMetrics.text.contains("code=\"101\""))
        #expect((metric("ballast_tunnel_bytes_total", "route=\"ws-\(tag)\"", "direction=\"from_client\"") ?? 0) > 1_048_576)
        #expect((metric("ballast_tunnel_bytes_total", "route=\"ws-\(tag)\"", "direction=\"from_server\"") ?? 0) > 1_048_576)
        #expect(metric("ballast_tunnels_closed_total", "route=\"ws-\(tag)\"") == 1)
        #expect(metric("ballast_tunnels_open", "route=\"ws-\(tag)\"") == 0)
        // One access log line for the whole tunnel, with its bytes both ways.
        proxy.balancer.flushAccessLogs()
        try await Task.sleep(for: .milliseconds(300))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let line = try #require(lines.first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, "\(lines)")
        #expect(lines.count == 1 && line["tunnel"] as? Bool == true && line["status"] as? Int == 101, "\(line)")
        #expect((line["bytes_in"] as? Int ?? 0) > 1_048_576 && (line["bytes_out"] as? Int ?? 0) > 1_048_576, "\(line)")
    }

    @Test func aThousandConcurrentTunnelsLoseNoMessage() async throws {
        let server = try await WebSocketPeer.start()
        let proxy = try await ProxyHarness.start { self.config($0, server: server.port, tag: "many") }
        defer { Task { await proxy.stop(); server.stop() } }
        let report = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "many", "1000")
        #expect(report["tunnels"] as? String == "1000", "\(report)")
        #expect(report["messages"] as? String == "20000")
        #expect(report["lost"] as? String == "0")
    }

    @Test func eitherSideClosesTheTunnelCleanly() async throws {
        let server = try await WebSocketPeer.start()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let proxy = try await ProxyHarness.start { self.config($0, server: server.port, tag: String(tag)) }
        defer { Task { await proxy.stop(); server.stop() } }
        // The server's close frame reaches the client before the connection ends.
        let serverClose = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "server-close")
        #expect(serverClose["code"] as? String == "1000")
        #expect(serverClose["reason"] as? String == "bye")
        // A client's close frame: the server answers it and closes TCP first (RFC 6455 §7.1.1),
        // so the server ends the tunnel.
        let clientClose = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "client-close")
        #expect(clientClose["close_code"] as? String == "1000")
        // A client that vanishes (a reset): the server connection is closed for it.
        let abort = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "client-abort")
        #expect(abort["echo"] as? String == "x")
        try await Task.sleep(for: .milliseconds(300))
        #expect(metric("ballast_tunnels_closed_total", "route=\"ws-\(tag)\"", "cause=\"server\"") == 2)
        #expect(metric("ballast_tunnels_closed_total", "route=\"ws-\(tag)\"", "cause=\"error\"") == nil)
        #expect(metric("ballast_tunnels_closed_total", "route=\"ws-\(tag)\"", "cause=\"client\"") == 1)
        #expect(metric("ballast_tunnels_open", "route=\"ws-\(tag)\"") == 0)
    }

    @Test func anIdleTunnelIsClosedAfterTunnelIdle() async throws {
        let server = try await WebSocketPeer.start()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let proxy = try await ProxyHarness.start {
            self.config($0, server: server.port, tag: String(tag), route: ", timeouts: { tunnel_idle: 500ms }")
        }
        defer { Task { await proxy.stop(); server.stop() } }
        let report = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "idle", "0.5")
        #expect(report["closed"] as? String == "1")
        let after = Double(report["after"] as? String ?? "") ?? 99
        #expect(after >= 0.4 && after < 3, "closed \(after) s after the last message")
        #expect(TestMetrics.text.contains("cause=\"idle\""))
        // A busy tunnel outlives the idle timeout: a message every half second for 2.5 s.
        let busy = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "hold", "5")
        #expect(busy["echoed"] as? String == "5")
        #expect(busy["closed"] as? String == "0")
    }

    @Test func aRouteWithoutUpgradesRefusesThem() async throws {
        let server = try await WebSocketPeer.start()
        let proxy = try await ProxyHarness.start { self.config($0, server: server.port, tag: "refuse") }
        defer { Task { await proxy.stop(); server.stop() } }
        let report = try await WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/plain", "echo")
        #expect(report["refused"] as? String == "400")
    }

    /// A 101 to a request that did not ask for one would hand the connection to whatever the
    /// server speaks next (a smuggling vector): the client gets 502, not the 101.
    @Test func anUnaskedSwitchIsAServerFailure() async throws {
        let rogue = try await WebSocketPeer.start("rogue")
        let proxy = try await ProxyHarness.start { simpleConfig(port: $0, servers: ["127.0.0.1:\(rogue.port)"]) }
        defer { Task { await proxy.stop(); rogue.stop() } }
        let response = try await fetch(port: proxy.port, .GET, "/")
        #expect(response.status == 502)
    }

    /// A reload in the middle: the tunnel keeps the runtime it began with, as a request in
    /// flight does, while new requests follow the new config.
    @Test func aReloadDoesNotCutATunnel() async throws {
        let server = try await WebSocketPeer.start()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let proxy = try await ProxyHarness.start { self.config($0, server: server.port, tag: String(tag)) }
        defer { Task { await proxy.stop(); server.stop() } }
        async let held = WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "hold", "6")
        try await untilTunnelOpen("ws-\(tag)")
        // `ballast status` shows it.
        #expect(await proxy.balancer.openTunnels() == ["ws-\(tag)": 1])
        try await Task.sleep(for: .milliseconds(500))
        try await proxy.apply(config(proxy.port, server: server.port, tag: String(tag), route: ", timeouts: { tunnel_idle: 2m }"))
        let report = try await held
        #expect(report["echoed"] as? String == "6")
        #expect(report["closed"] as? String == "0")
        try await Task.sleep(for: .milliseconds(200))
        #expect(await proxy.balancer.openTunnels().isEmpty)
    }

    /// Shutdown drains: a tunnel never ends by itself, so it is closed when the drain period
    /// is over, not before and not never.
    @Test func shutdownClosesTunnelsAfterTheDrainPeriod() async throws {
        let server = try await WebSocketPeer.start()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let proxy = try await ProxyHarness.start { self.config($0, server: server.port, tag: String(tag)) }
        defer { server.stop() }
        async let held = WebSocketPeer.run("ws://127.0.0.1:\(proxy.port)/ws", "hold", "40")
        try await untilTunnelOpen("ws-\(tag)")
        await proxy.balancer.shutdown(drainFor: .seconds(2))
        let report = try await held
        #expect(report["closed"] as? String == "1", "\(report)")
        let after = Double(report["after"] as? String ?? "") ?? 0
        // The 2 s drain; the upper bound leaves room for a busy machine (the tunnel would
        // otherwise run 20 s).
        #expect(after >= 1.5 && after < 12, "closed \(after) s after it opened")
        #expect(TestMetrics.text.contains("cause=\"shutdown\""))
    }
}
