import BallastConfig
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// Probes every server of every upstream that has a `health:` block, the way HAProxy's
/// `option httpchk` does: a fresh connection, `GET path`, and the status line of the answer.
/// Each server's `HealthStateMachine` survives reloads (keyed by its `ServerState`).
package final class HealthChecker: Sendable {
    private struct Probe {
        var machine: HealthStateMachine
        var task: RepeatedTask?
    }

    private let eventLoop: any EventLoop
    private let logger: Logger
    private let probes = NIOLockedValueBox<[ObjectIdentifier: Probe]>([:])
    private let gauges = GaugeCache()
    private let events: @Sendable (ProxyEvent) -> Void

    init(eventLoop: any EventLoop, logger: Logger, events: @escaping @Sendable (ProxyEvent) -> Void) {
        self.eventLoop = eventLoop
        self.logger = logger
        self.events = events
    }

    /// Starts probing the servers of `runtimes` (the stable one, and a canary during a rollout);
    /// probes of servers no longer present stop.
    func run(_ runtimes: [ProxyRuntime]) {
        probes.withLockedValue { probes in
            var next: [ObjectIdentifier: Probe] = [:]
            let stable = Set((runtimes.first?.upstreams.values).map { $0.flatMap { $0.servers.map { ObjectIdentifier($0.state) } } } ?? [])
            for upstream in runtimes.flatMap({ $0.upstreams.values }) {
                for server in upstream.servers {
                    let id = ObjectIdentifier(server.state)
                    guard next[id] == nil else { continue }  // shared by the stable and canary configs
                    probes[id]?.task?.cancel()
                    guard let health = upstream.config.health else {
                        // No active check: the server counts as healthy (passive detection still ejects).
                        server.state.healthy.store(true, ordering: .relaxed)
                        continue
                    }
                    var machine = probes[id]?.machine
                        ?? HealthStateMachine(healthyAfter: health.healthyAfter, unhealthyAfter: health.unhealthyAfter,
                                              startHealthy: server.state.isHealthy)
                    if machine.healthyAfter != health.healthyAfter || machine.unhealthyAfter != health.unhealthyAfter {
                        machine = HealthStateMachine(healthyAfter: health.healthyAfter, unhealthyAfter: health.unhealthyAfter,
                                                     startHealthy: machine.isHealthy)
                    }
                    let interval = TimeAmount.milliseconds(max(1, health.interval.milliseconds))
                    let upstreamName = upstream.name
                    let canaryOnly = !stable.contains(id)
                    let task = eventLoop.scheduleRepeatedAsyncTask(initialDelay: .zero, delay: interval) { [self] _ in
                        self.probe(server, upstream: upstreamName, health: health, canaryOnly: canaryOnly)
                    }
                    next[id] = Probe(machine: machine, task: task)
                }
            }
            for (id, probe) in probes where next[id] == nil { probe.task?.cancel() }
            probes = next
        }
    }

    func stop() {
        probes.withLockedValue { probes in
            for probe in probes.values { probe.task?.cancel() }
            probes.removeAll()
        }
    }

    private func probe(_ server: ServerTarget, upstream: String, health: HealthCheck, canaryOnly: Bool) -> EventLoopFuture<Void> {
        Self.check(server.socketAddress, host: server.address, health: health, tls: server.tls, on: eventLoop)
            .map { outcome in self.record(server, upstream: upstream, outcome: outcome, canaryOnly: canaryOnly) }
    }

    /// `canaryOnly`: the state belongs to a canary's own health check; it flips and reports,
    /// but the gauges keep showing the config in force.
    private func record(_ server: ServerTarget, upstream: String, outcome: ProbeOutcome, canaryOnly: Bool) {
        let id = ObjectIdentifier(server.state)
        let flipped = probes.withLockedValue { probes -> Bool? in
            guard probes[id] != nil else { return nil }
            return probes[id]!.machine.record(success: outcome.passed)
        }
        if let healthy = flipped {
            server.state.healthy.store(healthy, ordering: .relaxed)
            logger.warning("server health changed", metadata: [
                "upstream": .string(upstream), "server": .string(server.key),
                "healthy": .stringConvertible(healthy), "reason": .string(outcome.description),
            ])
            events(.serverHealth(upstream: upstream, server: server.key, healthy: healthy,
                                 reason: (canaryOnly ? "under the canary's health check, " : "") + outcome.description))
        }
        guard !canaryOnly else { return }
        gauge(upstream: upstream, server: server.key).record(server.state.isHealthy ? 1 : 0)
    }

    private func gauge(upstream: String, server: String) -> Gauge {
        gauges.gauge("ballast_upstream_server_up", [("upstream", upstream), ("server", server)])
    }

    /// Publishes up/down for every server (ejections included), for servers without probes too.
    func refreshGauges(_ runtime: ProxyRuntime, now: Int64) {
        for upstream in runtime.upstreams.values {
            for server in upstream.servers {
                gauge(upstream: upstream.name, server: server.key).record(server.state.isAvailable(now: now) ? 1 : 0)
            }
        }
    }

    // MARK: One probe

    /// What one probe saw, in words an operator can act on.
    package enum ProbeOutcome: Sendable, CustomStringConvertible {
        case passed(status: Int)
        case wrongStatus(Int, expected: Int)
        case refused(String)
        case timedOut
        case malformed

        package var passed: Bool { if case .passed = self { return true } else { return false } }

        package var description: String {
            switch self {
            case .passed(let status): "answered \(status)"
            case .wrongStatus(let status, let expected): "answered \(status), expected \(expected)"
            case .refused(let why): "connection failed: \(why)"
            case .timedOut: "timed out"
            case .malformed: "did not answer HTTP"
            }
        }
    }

    /// Probes `address` once, as the balancer's health check would (`ballast up`, preflight).
    package static func probe(_ address: Address, health: HealthCheck) async -> ProbeOutcome {
        await probe(address, health: health, tls: nil)
    }

    /// The same over TLS when `tls` is set (preflight of an upstream with `tls:`).
    static func probe(_ address: Address, health: HealthCheck, tls: UpstreamTLSContext?) async -> ProbeOutcome {
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let socketAddress: SocketAddress
        do {
            socketAddress = try RuntimeCompiler.resolve(address)
        } catch {
            return .refused("cannot resolve \(address.host)")
        }
        return (try? await check(socketAddress, host: address, health: health, tls: tls, on: loop).get()) ?? .timedOut
    }

    /// Probes one server once.
    /// `host`: the server as written, for the `Host` header and the TLS name.
    static func check(_ address: SocketAddress, host: Address, health: HealthCheck, tls: UpstreamTLSContext? = nil,
                      on eventLoop: any EventLoop) -> EventLoopFuture<ProbeOutcome> {
        let promise = eventLoop.makePromise(of: ProbeOutcome.self)
        let timeout = TimeAmount.milliseconds(max(1, health.timeout.milliseconds))
        let timer = eventLoop.scheduleTask(in: timeout) { promise.succeed(.timedOut) }
        let request = "GET \(health.path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: ballast-health/1\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        // The probe speaks TLS as requests do: a wrong CA or name fails it.
                        try channel.pipeline.syncOperations.addHandler(try tls.clientHandler(host: host.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(ProbeHandler(promise: promise, expected: health.expectStatus))
                }
            }
            .connect(to: address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    channel.writeAndFlush(ByteBuffer(string: request), promise: nil)
                    promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
                case .failure(let error):
                    promise.succeed(.refused(describeConnectError(error)))
                }
            }
        return promise.futureResult.always { _ in timer.cancel() }
    }
}

/// Reads the status line of a health check answer.
private final class ProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<HealthChecker.ProbeOutcome>
    let expected: Int
    var received = ByteBuffer()

    init(promise: EventLoopPromise<HealthChecker.ProbeOutcome>, expected: Int) {
        self.promise = promise
        self.expected = expected
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received.writeBuffer(&buffer)
        guard received.readableBytes >= 12 else { return }
        let line = received.getString(at: received.readerIndex, length: 12) ?? ""
        if line.hasPrefix("HTTP/1."), let status = Int(line.dropFirst(9).prefix(3)) {
            promise.succeed(status == expected ? .passed(status: status) : .wrongStatus(status, expected: expected))
        } else {
            promise.succeed(.malformed)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(.refused("closed without an answer"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.succeed(.refused(describeConnectError(error)))
        context.close(promise: nil)
    }
}

/// A connect error in a few plain words ("connection refused"), not NIO's description.
func describeConnectError(_ error: any Error) -> String {
    if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
        return describeConnectError(first.error)
    }
    if let error = error as? IOError {
        switch error.errnoCode {
        case ECONNREFUSED: return "connection refused"
        case ETIMEDOUT: return "timed out"
        case EHOSTUNREACH, ENETUNREACH: return "host unreachable"
        default: return String(cString: strerror(error.errnoCode)).lowercased()
        }
    }
    if case ChannelError.connectTimeout = error { return "connect timed out" }
    if let words = describeTLSError(error) { return words }
    return "\(error)"
}

/// A TLS failure toward a server in words that say which setting to check.
func describeTLSError(_ error: any Error) -> String? {
    if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
        return "TLS: the server's certificate does not name the server (\(error)); check `tls.server_name`"
    }
    if let error = error as? NIOSSLError {
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS: the server's certificate is not signed by the CA the upstream trusts; check `tls.ca`"
        }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") {
            return "TLS: the server does not speak TLS on this port"
        }
        if text.contains("ALERT_CERTIFICATE_REQUIRED") || text.contains("SSLV3_ALERT_HANDSHAKE_FAILURE") || text.contains("ALERT_BAD_CERTIFICATE") || text.contains("ALERT_UNKNOWN_CA") {
            return "TLS: the server refused the handshake (\(text)); it may require a client certificate (`tls.cert`, `tls.key`) it trusts"
        }
        return "TLS: \(text)"
    }
    return nil
}
