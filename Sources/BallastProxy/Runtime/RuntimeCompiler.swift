import BallastConfig
import CoreMetrics
import NIOConcurrencyHelpers
import NIOCore

/// Compiles configs into runtimes, carrying each server's live state across reloads so a
/// reload neither forgets that a server is down nor resets its ejection.
package final class RuntimeCompiler: Sendable {
    private let states = NIOLockedValueBox<[String: ServerState]>([:])
    /// Each upstream's circuit-breaker counts, by name, kept across reloads like server states.
    private let counters = NIOLockedValueBox<[String: UpstreamCounters]>([:])
    let loopCount: Int
    let events: @Sendable (ProxyEvent) -> Void
    /// Open access log files, kept across reloads.
    let accessLogs = AccessLogSinks()

    /// Where spans go when a config has `tracing:`.
    let spans: (any SpanSink)?

    package init(loopCount: Int, spans: (any SpanSink)? = nil, events: @escaping @Sendable (ProxyEvent) -> Void = { _ in }) {
        self.loopCount = loopCount
        self.spans = spans
        self.events = events
    }

    package struct CompileError: Error, CustomStringConvertible, Sendable {
        package var description: String
    }

    /// Resolves every server address and builds the runtime; throws without side effects.
    package func compile(_ config: Config, version: Int) throws -> ProxyRuntime {
        var resolved: [Address: SocketAddress] = [:]
        for upstream in config.upstreams {
            for server in upstream.servers where resolved[server.address] == nil {
                do {
                    resolved[server.address] = try Self.resolve(server.address)
                } catch {
                    throw CompileError(description:
                        "server \(server.address) of upstream '\(upstream.name)' cannot be resolved: \(error)")
                }
            }
        }
        var contexts: [String: UpstreamTLSContext] = [:]
        for upstream in config.upstreams {
            guard let tls = upstream.tls else { continue }
            do {
                contexts[upstream.name] = try UpstreamTLSContext.load(tls)
            } catch {
                throw CompileError(description: "upstream '\(upstream.name)' cannot load its TLS files: \(error)")
            }
        }
        // Compiling only adds states: a compiled config may never be installed (a canary that is
        // rolled back), and the config in force must keep its servers' health meanwhile.
        let upstreams = states.withLockedValue { states in
            var upstreams: [String: UpstreamRuntime] = [:]
            for upstream in config.upstreams {
                let servers = upstream.servers.enumerated().map { index, server in
                    let key = Self.key(upstream, server.address)
                    let state = states[key] ?? ServerState(address: server.address)
                    states[key] = state
                    return ServerTarget(index: index, address: server.address, socketAddress: resolved[server.address]!,
                                        weight: server.weight, state: state, key: server.address.description,
                                        tls: contexts[upstream.name])
                }
                let counters = self.counters.withLockedValue { all in
                    let kept = all[upstream.name] ?? UpstreamCounters()
                    all[upstream.name] = kept
                    return kept
                }
                upstreams[upstream.name] = UpstreamRuntime(config: upstream, servers: servers, loopCount: loopCount, counters: counters,
                                                           tls: contexts[upstream.name], events: events)
            }
            return upstreams
        }
        var listeners: [String: ListenerRuntime] = [:]
        for listener in config.listeners {
            let routes = listener.routes.compactMap { route in
                upstreams[route.upstream].map { RouteRuntime(config: route, listenerName: listener.name, upstream: $0, loopCount: loopCount) }
            }
            var accessLog: AccessLogWriter?
            if let log = listener.accessLog {
                var sink: AccessLogSink?
                if log.format == .json || log.resolvedPath != nil {
                    do {
                        sink = try accessLogs.sink(log.resolvedPath)
                    } catch {
                        throw CompileError(description: "listener '\(listener.name)': \(error)")
                    }
                }
                accessLog = AccessLogWriter(format: log.format, sink: sink,
                                            dropped: Counter(label: "ballast_access_log_dropped_total", dimensions: [("listener", listener.name)]))
            }
            listeners[listener.name] = ListenerRuntime(config: listener, routes: routes, accessLog: accessLog)
        }
        return ProxyRuntime(config: config, version: version, listeners: listeners, upstreams: upstreams,
                            tracing: HopTracing(config.tracing, sink: spans))
    }

    /// Forgets the state of servers that none of `runtimes` has any more.
    func prune(keeping runtimes: [ProxyRuntime]) {
        var keep: Set<String> = []
        for runtime in runtimes {
            for upstream in runtime.upstreams.values {
                for server in upstream.servers { keep.insert(Self.key(upstream.config, server.address)) }
            }
        }
        states.withLockedValue { states in states = states.filter { keep.contains($0.key) } }
        let logs = runtimes.flatMap { $0.config.listeners.compactMap { listener -> String? in
            guard let log = listener.accessLog, log.format == .json || log.resolvedPath != nil else { return nil }
            return log.resolvedPath ?? ""
        } }
        accessLogs.prune(keeping: Set(logs))
        let names = Set(runtimes.flatMap(\.upstreams.keys))
        counters.withLockedValue { counters in counters = counters.filter { names.contains($0.key) } }
    }

    /// A server's state is its health under one check: a config that probes another path or
    /// expects another status (a canary's) gets its own state, probed its own way, so a broken
    /// check shows during the watch instead of after promotion. TLS is part of the key: the
    /// state also keys the pools, and a connection opened in clear (or to another CA or name)
    /// must not carry a request of a config that says TLS.
    private static func key(_ upstream: Upstream, _ address: Address) -> String {
        "\(upstream.name)/\(address)" + (upstream.health.map { " \($0.path) \($0.expectStatus)" } ?? "")
            + (upstream.tls.map { " tls \($0.caPath ?? "system") \($0.serverName ?? "-") \($0.client?.certificatePath ?? "-") \($0.verify)" } ?? "")
    }

    static func resolve(_ address: Address) throws -> SocketAddress {
        if let literal = try? SocketAddress(ipAddress: address.host, port: address.port) { return literal }
        return try SocketAddress.makeAddressResolvingHost(address.host, port: address.port)
    }
}
