import BallastConfig
import CoreMetrics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// The data plane: listeners on N event loops, routing and balancing every request to a
/// server over per-loop kept-alive pools.
///
/// ```swift
/// let lb = try LoadBalancer(config: config, threads: 2)
/// try await lb.start()
/// try await lb.apply(newConfig)     // validated, compiled, swapped atomically
/// await lb.drain(timeout: .seconds(10))
/// ```
package actor LoadBalancer {
    /// Why a config could not be started or applied; nothing changed.
    package struct ApplyError: Error, CustomStringConvertible, Sendable {
        package var description: String
    }

    package nonisolated let group: MultiThreadedEventLoopGroup
    private nonisolated let loops: [ObjectIdentifier: LoopLocal<LoopContext>]
    private nonisolated let loopList: [(any EventLoop, LoopLocal<LoopContext>)]
    private nonisolated let current: NIOLockedValueBox<ProxyRuntime>
    private nonisolated let compiler: RuntimeCompiler
    private nonisolated let logger: Logger
    private nonisolated let events: @Sendable (ProxyEvent) -> Void
    private let health: HealthChecker
    private var slots: [String: ListenerSlot] = [:]
    private var sweeps: [RepeatedTask] = []
    private let heapTrim = HeapTrim()
    private let expiry = CertificateExpiryGauges()
    private var nextVersion: Int
    private var ownsGroup: Bool
    private nonisolated let serving = Synchronization.Atomic<Bool>(false)

    /// True from the moment every listener is bound until a drain begins: what `/readyz` says.
    package nonisolated var isServing: Bool { serving.load(ordering: .relaxed) }

    /// Compiles `config` (resolving every server) but binds nothing until `start()`.
    package init(config: Config, version: Int = 1, threads: Int = System.coreCount, logger: Logger = Logger(label: "ballast.proxy"),
                spans: (any SpanSink)? = nil, events: @escaping @Sendable (ProxyEvent) -> Void = { _ in }) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let eventLoops = Array(group.makeIterator())
        let compiler = RuntimeCompiler(loopCount: eventLoops.count, spans: spans, events: events)
        let runtime: ProxyRuntime
        do {
            runtime = try compiler.compile(config, version: version)
        } catch {
            try? group.syncShutdownGracefully()
            throw ApplyError(description: "\(error)")
        }
        var loops: [ObjectIdentifier: LoopLocal<LoopContext>] = [:]
        var list: [(any EventLoop, LoopLocal<LoopContext>)] = []
        for (index, loop) in eventLoops.enumerated() {
            let context = LoopLocal(LoopContext(index: index, eventLoop: loop, runtime: runtime))
            loops[ObjectIdentifier(loop)] = context
            list.append((loop, context))
        }
        self.group = group
        self.loops = loops
        self.loopList = list
        self.current = NIOLockedValueBox(runtime)
        self.compiler = compiler
        self.logger = logger
        self.events = events
        self.health = HealthChecker(eventLoop: eventLoops[0], logger: logger, events: events)
        self.nextVersion = version + 1
        self.ownsGroup = true
    }

    /// Opens every access log file again (SIGUSR1: logrotate moved them).
    package nonisolated func reopenAccessLogs() { compiler.accessLogs.reopenAll() }

    /// Writes the access log lines waiting now (tests; shutdown).
    package nonisolated func flushAccessLogs() { compiler.accessLogs.flushAll() }

    /// The runtime serving new requests now.
    package nonisolated var runtime: ProxyRuntime { current.withLockedValue { $0 } }

    /// The version number of the config serving new requests.
    package nonisolated var version: Int { runtime.version }

    /// Tunnels (upgraded connections) open now, by route, over every event loop.
    package func openTunnels() async -> [String: Int] {
        var total: [String: Int] = [:]
        for (loop, context) in loopList {
            let counts = (try? await loop.submit { context.value.openTunnels }.get()) ?? [:]
            total.merge(counts, uniquingKeysWith: +)
        }
        return total
    }

    /// Requests answered with a 5xx between `from` and `to`, oldest first: the newest
    /// `FailedRequestRing.capacity` of each event loop (kept since this process started).
    package func failedRequests(from: Date, to: Date) async -> [FailedRequest] {
        var all: [FailedRequest] = []
        for (loop, context) in loopList {
            all += (try? await loop.submit { context.value.failedRequests.between(from, to) }.get()) ?? []
        }
        return all.sorted { $0.at < $1.at }
    }

    /// The addresses actually bound, by listener name (useful with port 0 in tests).
    package func boundAddresses() -> [String: SocketAddress] {
        slots.compactMapValues { $0.channel.localAddress }
    }

    /// Binds every listener and starts health checks; on failure nothing stays bound.
    package func start() async throws {
        let runtime = self.runtime
        slots = try await bind(runtime.config.listeners)
        publishExpiry(runtime)
        for (loop, context) in loopList {
            sweeps.append(loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
                context.value.sweep()
            })
        }
        let health = self.health
        let current = self.current
        let usage = UsageGauges()
        let contexts = loopList.map(\.1)
        sweeps.append(loopList[0].0.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let runtime = current.withLockedValue { $0 }
            let now = Int64(NIODeadline.now().uptimeNanoseconds)
            health.refreshGauges(runtime, now: now)
            usage.refresh(runtime, loops: contexts.map { $0.value.usage.withLockedValue { $0 } }, now: now)
        })
        health.run([runtime])
        heapTrim.start()
        serving.store(true, ordering: .relaxed)
    }

    /// Validates nothing (the caller has a loaded `Config`) but compiles, binds new listeners,
    /// then swaps the runtime on every loop at once. Requests in flight finish on the old one.
    /// `version` is the number shared state gave it; without one, the next local number.
    @discardableResult
    package func apply(_ config: Config, version: Int? = nil) async throws -> ProxyRuntime {
        if canary != nil { await abortCanary() }
        let runtime = try compileNextVersion(config, version: version)
        try await install(runtime)
        return runtime
    }

    /// Compiles `config` as the next version; a config that cannot compile uses no version.
    private func compileNextVersion(_ config: Config, version: Int?) throws -> ProxyRuntime {
        let runtime: ProxyRuntime
        let number = version ?? nextVersion
        do {
            runtime = try compiler.compile(config, version: number)
        } catch {
            throw ApplyError(description: "\(error)")
        }
        nextVersion = max(nextVersion, number + 1)
        return runtime
    }

    /// Binds the listeners `runtime` adds, swaps it in on every loop, closes listeners it drops.
    private func install(_ runtime: ProxyRuntime) async throws {
        let config = runtime.config
        // A listener whose address or TLS paths changed is bound anew; one that keeps them keeps
        // its socket, and its certificate files are read again (a renewal written over the same
        // paths, as ACME clients do, is served from now on). A renewal that does not load
        // refuses the whole change: the old certificate stays.
        let unchanged = slots.filter { name, slot in
            config.listeners.contains { $0.name == name && $0.listen == slot.address && $0.tls == slot.tls && $0.protocols == slot.protocols }
        }
        var renewals: [(ListenerSlot, ListenerCertificates)] = []
        for slot in unchanged.values {
            guard let tls = slot.tls else { continue }
            let loaded: ListenerCertificates
            do {
                loaded = try ListenerCertificates.load(tls, protocols: slot.protocols)
            } catch {
                throw ApplyError(description: "listener '\(slot.name)' cannot load its TLS files (\(Self.files(tls))); it keeps the certificates it serves: \(error)")
            }
            if loaded.fingerprint != slot.certificates.withLockedValue({ $0?.fingerprint }) { renewals.append((slot, loaded)) }
        }
        let added = config.listeners.filter { unchanged[$0.name] == nil }
        let newSlots = try await bind(added)
        for (slot, loaded) in renewals {
            let before = Set(slot.certificates.withLockedValue { $0?.served.map(\.leaf.der) ?? [] })
            slot.certificates.withLockedValue { $0 = loaded }
            for served in loaded.served where !before.contains(served.leaf.der) {
                events(.certificateLoaded(listener: slot.name, subject: served.leaf.subject, notAfter: served.leaf.notAfter, renewed: true))
                logger.info("TLS certificate renewed", metadata: ["listener": .string(slot.name), "subject": .string(served.leaf.subject)])
            }
        }
        current.withLockedValue { $0 = runtime }
        var swaps: [EventLoopFuture<Void>] = []
        for (loop, context) in loopList {
            swaps.append(loop.submit {
                context.value.canary = nil
                context.value.runtimeChanged(to: runtime)
            })
        }
        try await EventLoopFuture.andAllSucceed(swaps, on: group.any()).get()
        for (name, slot) in slots where unchanged[name] == nil {
            try? await slot.channel.close()
        }
        slots = unchanged.merging(newSlots) { a, _ in a }
        // A reload is also logrotate's signal: access log files are opened again.
        compiler.accessLogs.reopenAll()
        publishExpiry(runtime)
        canary = nil
        compiler.prune(keeping: [runtime])
        health.run([runtime])
        logger.info("config applied", metadata: ["version": .stringConvertible(runtime.version)])
    }

    // MARK: Staged rollout

    private var canary: ProxyRuntime?

    /// Routes `percent`% of new requests by `config` on every loop, keeping the rest on the
    /// stable config; returns the canary's version. Its servers are health-checked at once.
    package func startCanary(_ config: Config, percent: Double, version: Int? = nil) async throws -> Int {
        if canary != nil { await abortCanary() }
        let runtime = try compileNextVersion(config, version: version)
        canary = runtime
        health.run([self.runtime, runtime])
        for (loop, context) in loopList {
            try await loop.submit {
                context.value.rolloutStats = RolloutStats()
                context.value.canary = Canary(runtime: runtime, percent: percent)
            }.get()
        }
        logger.info("canary started", metadata: ["version": .stringConvertible(runtime.version), "percent": .stringConvertible(percent)])
        return runtime.version
    }

    /// What canary and stable requests did since the canary started, summed over the loops.
    package func rolloutStats() async -> RolloutStats {
        var total = RolloutStats()
        for (loop, context) in loopList {
            if let stats = try? await loop.submit({ context.value.rolloutStats }).get() {
                total.canary = total.canary + stats.canary
                total.stable = total.stable + stats.stable
            }
        }
        return total
    }

    /// The share (0-100) of the canary's servers that are available, for the upstreams its
    /// routes use; 100 without a canary.
    package func canaryHealthyPercent() -> Double {
        guard let canary else { return 100 }
        let used = Set(canary.config.listeners.flatMap { $0.routes.map(\.upstream) })
        let now = Int64(NIODeadline.now().uptimeNanoseconds)
        let servers = canary.upstreams.values.filter { used.contains($0.name) }.flatMap(\.servers).filter { $0.weight > 0 }
        guard !servers.isEmpty else { return 100 }
        return Double(servers.count { $0.state.isAvailable(now: now) }) * 100 / Double(servers.count)
    }

    /// Makes the canary the config in force.
    package func promoteCanary() async throws -> ProxyRuntime {
        guard let canary else { throw ApplyError(description: "no canary to promote") }
        try await install(canary)
        return canary
    }

    /// Drops the canary: every new request goes by the stable config again.
    package func abortCanary() async {
        canary = nil
        for (loop, context) in loopList {
            try? await loop.submit { context.value.canary = nil }.get()
        }
        compiler.prune(keeping: [runtime])
        health.run([runtime])
        logger.warning("canary rolled back", metadata: ["stable version": .stringConvertible(version)])
    }

    private func bind(_ listeners: [Listener]) async throws -> [String: ListenerSlot] {
        var bound: [String: ListenerSlot] = [:]
        do {
            for listener in listeners {
                let slot = try await bind(listener)
                bound[listener.name] = slot
            }
        } catch {
            for slot in bound.values { try? await slot.channel.close() }
            throw error
        }
        return bound
    }

    /// The accept queue of `listener`: its `max_connections`, at least 1,024 and at most 65,535.
    static func backlog(_ listener: Listener) -> Int32 {
        Int32(min(65_535, max(1_024, listener.limits.maxConnections)))
    }

    private func bind(_ listener: Listener) async throws -> ListenerSlot {
        let name = listener.name
        let loaded: ListenerCertificates?
        do {
            loaded = try listener.tls.map { try ListenerCertificates.load($0, protocols: listener.protocols) }
        } catch {
            throw ApplyError(description: "listener '\(name)' cannot load its TLS files (\(listener.tls.map(Self.files) ?? "")): \(error)")
        }
        let certificates = NIOLockedValueBox(loaded)
        let acceptor = ListenerAcceptor(name: name, loops: loops, logger: logger, connections: ConnectionCounter(),
                                        perClient: PerClientConnections(), certificates: loaded == nil ? nil : certificates,
                                        speaksH2: listener.protocols.contains("h2"), speaksH2C: listener.protocols.contains("h2c"),
                                        unmatchedNames: Counter(label: "ballast_tls_sni_unmatched_total", dimensions: [("listener", name)]))
        do {
            let channel = try await ServerBootstrap(group: group)
                // As HAProxy's backlog follows maxconn: 2,000 clients connecting at once into a
                // queue of 1,024 had their SYNs dropped and retried after 1 s (3 s at 8,000),
                // which was the whole p999 at those counts. The kernel clamps it to somaxconn.
                .serverChannelOption(.backlog, value: Self.backlog(listener))
                // Up to 64 accepts per wake-up (HAProxy's tune.maxaccept), not NIO's 4: a burst
                // of connections is taken in while the loop still serves reads between bursts.
                .serverChannelOption(.maxMessagesPerRead, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                // A client that shuts its sending side still gets the answers to what it sent.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try acceptor.initialize(channel) }
                }
                .bind(host: listener.listen.host, port: listener.listen.port)
                .get()
            for served in loaded?.served ?? [] {
                events(.certificateLoaded(listener: name, subject: served.leaf.subject, notAfter: served.leaf.notAfter, renewed: false))
            }
            return ListenerSlot(name: name, address: listener.listen, tls: listener.tls, protocols: listener.protocols,
                                certificates: certificates, channel: channel)
        } catch {
            throw ApplyError(description: "listener '\(name)' cannot listen on \(listener.listen): \(error)")
        }
    }

    /// Every certificate in use now: the listeners' and `runtime`'s upstream client certificates.
    private func publishExpiry(_ runtime: ProxyRuntime) {
        expiry.publish(listeners: slots.values.map { slot in (slot.name, slot.certificates.withLockedValue { $0?.served.map(\.leaf) ?? [] }) },
                       upstreams: runtime.upstreams.values.compactMap { upstream in upstream.tls?.clientLeaf.map { (upstream.name, $0) } })
    }

    /// The files of a listener's `tls:`, for an error message.
    static func files(_ tls: ListenerTLS) -> String {
        (tls.certificates.flatMap { [$0.certificatePath, $0.keyPath] } + (tls.clientCAPath.map { [$0] } ?? [])).joined(separator: ", ")
    }

    /// Stops accepting, lets requests in flight finish (up to `timeout`), then closes the rest.
    package func drain(timeout: Duration = .seconds(10)) async {
        serving.store(false, ordering: .relaxed)
        for slot in slots.values { try? await slot.channel.close() }
        slots = [:]
        health.stop()
        let deadline = ContinuousClock.now + timeout
        while true {
            var open = 0
            for (loop, context) in loopList {
                open += (try? await loop.submit { () -> Int in
                    let clients = context.value.clients.values
                    for client in clients { client.drain() }
                    return context.value.clients.count
                }.get()) ?? 0
            }
            if open == 0 || ContinuousClock.now >= deadline { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        for (loop, context) in loopList {
            try? await loop.submit {
                for client in context.value.clients.values { client.closeNow() }
                context.value.pool.closeAll()
            }.get()
        }
    }

    /// Drains, then stops the event loops.
    package func shutdown(drainFor timeout: Duration = .seconds(10)) async {
        await drain(timeout: timeout)
        compiler.accessLogs.flushAll()
        for task in sweeps { task.cancel() }
        heapTrim.stop()
        sweeps = []
        if ownsGroup {
            ownsGroup = false
            try? await group.shutdownGracefully()
        }
    }
}

/// Open connections of one listener, counted across loops.
final class ConnectionCounter: Sendable {
    private let count = Synchronization.Atomic<Int>(0)
    func increment() -> Int { count.wrappingAdd(1, ordering: .relaxed).newValue }
    func decrement() { count.wrappingSubtract(1, ordering: .relaxed) }
}
