import BallastConfig
import Testing
@testable import BallastProxy

/// Upgrades: which requests ask for one, which routes let them through, what a 101 means, and
/// when a tunnel ends (`TunnelState`, `RequestAdmission.upgrade`, `RequestHead.upgrade`).
@Suite struct TunnelStateTests {
    static let second: Int64 = 1_000_000_000

    @Test func aTunnelEndsWhenIdleOrAtItsMaximumDuration() {
        var tunnel = TunnelState(now: 0, idleTimeout: 5 * Self.second, maxDuration: 60 * Self.second)
        #expect(tunnel.deadline == 5 * Self.second)
        #expect(tunnel.expiry(now: 4 * Self.second) == nil)
        #expect(tunnel.expiry(now: 5 * Self.second) == .idle)
        // Bytes either way keep it open, up to the maximum duration.
        tunnel.fromClient(10, now: 4 * Self.second)
        tunnel.fromServer(20, now: 8 * Self.second)
        #expect(tunnel.deadline == 13 * Self.second)
        #expect(tunnel.expiry(now: 12 * Self.second) == nil)
        for t in stride(from: 12, to: 60, by: 4) { tunnel.fromServer(1, now: Int64(t) * Self.second) }
        #expect(tunnel.deadline == 60 * Self.second)
        #expect(tunnel.expiry(now: 60 * Self.second) == .maxDuration)
        #expect(tunnel.bytesFromClient == 10 && tunnel.bytesFromServer == 32)
    }

    @Test func aHugeTimeoutDoesNotOverflowTheDeadline() {
        let tunnel = TunnelState(now: Int64.max / 2, idleTimeout: .max, maxDuration: .max)
        #expect(tunnel.deadline == .max)
        #expect(tunnel.expiry(now: Int64.max / 2 + Self.second) == nil)
    }

    @Test func only101SwitchesAndOnlyWhenAsked() {
        #expect(TunnelState.switching(status: 101, asked: true) == .tunnel)
        #expect(TunnelState.switching(status: 101, asked: false) == .unasked)
        #expect(TunnelState.switching(status: 200, asked: true) == .none)
        #expect(TunnelState.switching(status: 426, asked: true) == .none)
    }

    @Test func aRequestAsksForAnUpgradeOnlyWithConnectionUpgrade() throws {
        func upgrade(_ fields: String, version: String = "HTTP/1.1") throws -> String? {
            try parseRequest("GET /ws \(version)\r\nHost: a\r\n\(fields)\r\n").0?.upgrade
        }
        #expect(try upgrade("Connection: Upgrade\r\nUpgrade: websocket\r\n") == "websocket")
        #expect(try upgrade("Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket/13, foo\r\n") == "websocket")
        // Upgrade not named by Connection is a hop-by-hop header to drop, not a request.
        #expect(try upgrade("Upgrade: websocket\r\n") == nil)
        #expect(try upgrade("Connection: upgrade\r\n") == nil)
        // Two Upgrade lines are ambiguous; HTTP/1.0 cannot upgrade; nor can a closing request.
        #expect(try upgrade("Connection: upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n") == nil)
        #expect(try upgrade("Connection: upgrade\r\nUpgrade: websocket\r\n", version: "HTTP/1.0") == nil)
        #expect(try upgrade("Connection: upgrade, close\r\nUpgrade: websocket\r\n") == nil)
    }

    @Test func theRouteDecidesWhatAnUpgradeBecomes() throws {
        let runtime = try RequestAdmissionTests.runtime("""
              - { name: ws, match: { path_prefix: /ws }, upstream: app }
              - { name: none, match: { path_prefix: /none }, upstream: app, upgrades: [] }
        """)
        let ws = try #require(runtime.listeners["public"]?.route(method: "GET", path: "/ws", host: "a"))
        let none = try #require(runtime.listeners["public"]?.route(method: "GET", path: "/none", host: "a"))
        #expect(ws.config.upgrades == ["websocket"])
        #expect(RequestAdmission.upgrade(nil, route: ws, hasBody: false) == .none)
        #expect(RequestAdmission.upgrade("websocket", route: ws, hasBody: false) == .forward)
        // A protocol the route does not list is ignored (h2c from `curl --http2`): an ordinary request.
        #expect(RequestAdmission.upgrade("h2c", route: ws, hasBody: false) == .none)
        guard case .refused(let withBody) = RequestAdmission.upgrade("websocket", route: ws, hasBody: true) else {
            Issue.record("an upgrade with a body went through"); return
        }
        #expect(withBody.status == 400 && withBody.close)
        guard case .refused(let refused) = RequestAdmission.upgrade("websocket", route: none, hasBody: false) else {
            Issue.record("upgrades: [] let an upgrade through"); return
        }
        #expect(refused.status == 400 && refused.error == "upgrade_refused" && refused.close)
    }

    @Test func anUpgradeNeverSharesAServerConnection() {
        let policy = ExchangeState.Policy(upstream: "app", attempts: 1, retryOn: [], pipelineDepth: 8)
        let plain = ExchangeState(policy: policy, idempotent: true, hasBody: false, requestComplete: true, closeAfter: false, isCanary: false)
        var upgrade = ExchangeState(policy: policy, idempotent: true, hasBody: false, requestComplete: true, closeAfter: false,
                                    isCanary: false, upgrade: true)
        #expect(plain.pipelinable)
        #expect(!upgrade.pipelinable)
        upgrade.switchedProtocols()
        #expect(upgrade.status == 101 && upgrade.responseStarted && upgrade.closeAfter)
    }

    @Test func theLifecycleFollowsTheTunnelsDeadline() {
        var lifecycle = ConnectionLifecycle()
        let timeouts = ConnectionLifecycle.Timeouts(idle: 1, header: 1, stall: 1)
        lifecycle.enter(.streaming, now: 0, timeouts: timeouts)
        lifecycle.tunnel(until: 50)
        #expect(lifecycle.phase == .tunnel)
        #expect(lifecycle.expiry(now: 49) == .none)
        #expect(lifecycle.expiry(now: 50) == .tunnelDeadline)
        #expect(lifecycle.wantsInput(.tunnel(serverWritable: true)))
        #expect(!lifecycle.wantsInput(.tunnel(serverWritable: false)))
    }
}
