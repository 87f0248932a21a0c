import BallastConfig
import NIOCore
import NIOPosix

/// Checks a config against the live world before it is applied: every server is probed the way
/// the balancer's health check would probe it.
package enum Preflight {
    /// Probes every server of `config` (all at once) and returns what failed.
    package static func run(_ config: Config) async -> [Finding] {
        var findings: [Finding] = []
        for (u, upstream) in config.upstreams.enumerated() {
            var tls: UpstreamTLSContext?
            if let written = upstream.tls {
                do {
                    tls = try UpstreamTLSContext.load(written)
                } catch {
                    // The files themselves are TLSCheck's findings; nothing can be probed without them.
                    continue
                }
            }
            let outcomes = await withTaskGroup(of: (Int, HealthChecker.ProbeOutcome).self) { group in
                for (s, server) in upstream.servers.enumerated() {
                    group.addTask { [tls] in (s, await probe(server.address, health: upstream.health, tls: tls)) }
                }
                var outcomes: [Int: HealthChecker.ProbeOutcome] = [:]
                for await (s, outcome) in group { outcomes[s] = outcome }
                return outcomes
            }
            var healthy = 0
            for (s, server) in upstream.servers.enumerated() {
                guard let outcome = outcomes[s] else { continue }
                if outcome.passed {
                    if server.weight > 0 { healthy += 1 }
                    continue
                }
                let what = (upstream.health.map { "GET \($0.path)" } ?? "connect") + (upstream.tls == nil ? "" : " over TLS")
                findings.append(Finding(rule: .preflightServer,
                                        message: "server \(server.address) of upstream '\(upstream.name)' fails \(what): \(outcome)",
                                        at: config.location(of: "upstreams[\(u)].servers[\(s)]")))
            }
            if !upstream.servers.isEmpty, healthy == 0 {
                findings.append(Finding(rule: .preflightUpstream,
                                        message: "no server of upstream '\(upstream.name)' passes its health check: its traffic would go nowhere",
                                        at: config.location(of: "upstreams[\(u)].servers")))
            }
        }
        return findings
    }

    /// A server fails preflight as it would fail its health check: only after `unhealthy_after`
    /// failed probes in a row (spaced by the interval, at most 500 ms apart), so one probe that
    /// a busy machine answers late does not refuse a good change.
    static func probe(_ address: Address, health: HealthCheck?, tls: UpstreamTLSContext? = nil) async -> HealthChecker.ProbeOutcome {
        guard let health else { return await connectProbe(address, tls: tls) }
        var outcome = await HealthChecker.probe(address, health: health, tls: tls)
        var attempts = 1
        while !outcome.passed, attempts < health.unhealthyAfter {
            try? await Task.sleep(for: min(health.interval, .milliseconds(500)))
            outcome = await HealthChecker.probe(address, health: health, tls: tls)
            attempts += 1
        }
        return outcome
    }

    static func connectProbe(_ address: Address, tls: UpstreamTLSContext? = nil) async -> HealthChecker.ProbeOutcome {
        // No health check configured: the balancer would only connect (and shake hands), so preflight does too.
        do {
            let socketAddress = try RuntimeCompiler.resolve(address)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(1))
                .connect(to: socketAddress).get()
            if let tls {
                let handshake = try await channel.eventLoop.submit { try tls.start(on: channel, host: address.host, timeout: .seconds(2)) }.get()
                do {
                    try await handshake.get()
                } catch {
                    return .refused(describeConnectError(error))
                }
            }
            try? await channel.close()
            return .passed(status: 0)
        } catch {
            return .refused(describeConnectError(error))
        }
    }
}
