import BallastConfig
import BallastProxy
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A TCP server that greets like SSH: something listens, but not the expected service.
private final class SSHGreeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(ByteBuffer(string: "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nProtocol mismatch.\r\n")), promise: nil)
        context.close(promise: nil)
    }
}

@Suite struct PreflightTests {
    func config(_ servers: [String], health: Bool = true, unhealthyAfter: Int = 3) throws -> Config {
        let yaml = """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes: [{ name: all, match: { path_prefix: / }, upstream: app }]
            upstreams:
              - name: app
                servers: [\(servers.joined(separator: ", "))]
            \(health ? "    health: { path: /healthz, timeout: 500ms, interval: 1s, unhealthy_after: \(unhealthyAfter) }" : "")
            """
        return try ConfigLoader.load(text: yaml, file: "p.yaml").get().config
    }

    @Test func eachKindOfBadServerIsReportedWithWhatItDid() async throws {
        let good = try await TestBackend.start("good"), sick = try await TestBackend.start("sick")
        sick.healthStatus.store(500, ordering: .relaxed)
        let ssh = try await ServerBootstrap(group: TestBackend.group)
            .childChannelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(SSHGreeter()) } }
            .bind(host: "127.0.0.1", port: 0).get()
        let dead = try await freePort()
        let findings = await Preflight.run(try config([good.address, sick.address, "127.0.0.1:\(dead)", "127.0.0.1:\(ssh.localAddress!.port!)"]))
        #expect(findings.map(\.ruleID) == ["BL034", "BL034", "BL034"])
        #expect(findings[0].message.contains(sick.address) && findings[0].message.contains("answered 500, expected 200"))
        #expect(findings[1].message.contains("127.0.0.1:\(dead)") && findings[1].message.contains("connection failed"))
        #expect(findings[2].message.contains("did not answer HTTP"))
        // Each finding points at its server's line in the file.
        #expect(findings.allSatisfy { $0.location?.line == 8 })
        try await ssh.close()
        await good.stop()
        await sick.stop()
    }

    @Test func anUpstreamWithNoHealthyServerIsAnError() async throws {
        // The seed incident: every server moved to a port where nothing answers.
        let holders = [try DeadPort(), try DeadPort()]
        defer { holders.forEach { $0.release() } }
        let (dead1, dead2) = (holders[0].port, holders[1].port)
        let findings = await Preflight.run(try config(["127.0.0.1:\(dead1)", "127.0.0.1:\(dead2)"]))
        #expect(findings.map(\.ruleID) == ["BL034", "BL034", "BL035"])
        #expect(findings.last?.severity == .error)
        // Without a health check, preflight connects, as the balancer would.
        let plain = await Preflight.run(try config(["127.0.0.1:\(dead1)"], health: false))
        #expect(plain.map(\.ruleID) == ["BL034", "BL035"])
    }

    @Test func aHealthyUpstreamPasses() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        #expect(await Preflight.run(try config([a.address, b.address])).isEmpty)
        #expect(await Preflight.run(try config([a.address, b.address], health: false)).isEmpty)
        await a.stop()
        await b.stop()
    }

    /// The health checker takes a server down after `unhealthy_after` failures in a row, so
    /// preflight does too: one bad answer (a busy machine, a slow start) refuses nothing.
    @Test func oneFailedProbeIsRetriedUpToUnhealthyAfter() async throws {
        let a = try await TestBackend.start("a")
        a.failNextHealthChecks.store(2, ordering: .relaxed)
        #expect(await Preflight.run(try config([a.address], unhealthyAfter: 3)).isEmpty)
        a.failNextHealthChecks.store(2, ordering: .relaxed)
        #expect(await Preflight.run(try config([a.address], unhealthyAfter: 2)).map(\.ruleID) == ["BL034", "BL035"])
        a.failNextHealthChecks.store(1, ordering: .relaxed)
        #expect(await Preflight.run(try config([a.address], unhealthyAfter: 1)).map(\.ruleID) == ["BL034", "BL035"])
        await a.stop()
    }
}
