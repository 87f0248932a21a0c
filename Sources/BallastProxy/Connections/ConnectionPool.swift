import BallastConfig
import NIOCore
import NIOPosix

/// Kept-alive connections to servers, for one event loop only: taking and returning a
/// connection is an array push or pop, with no lock and no thread hop.
final class ConnectionPool {
    let eventLoop: any EventLoop
    /// Per server: its idle connections, coldest first, and how many it keeps (`IdleKeep`).
    private var idle: [ObjectIdentifier: ServerIdle] = [:]

    private struct ServerIdle {
        var connections: [UpstreamConnection] = []
        var keep: IdleKeep
        /// The upstream's `max_idle_per_server`, as of the last connection given back.
        var maxIdle = 0

        init(now: Int64) { keep = IdleKeep(now: now) }

        /// Keeps `connection` (true) or says to close it.
        mutating func giveBack(_ connection: UpstreamConnection, maxIdle: Int, inFlight: Int) -> Bool {
            self.maxIdle = maxIdle
            guard keep.keepsReturned(idle: connections.count, inFlight: inFlight, maxIdle: maxIdle) else { return false }
            connections.append(connection)
            return true
        }
    }
    /// Per server, the connection taken this tick that later requests may pipeline onto.
    private var pipelining: [ObjectIdentifier: UpstreamConnection] = [:]

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Opens a connection instead of a socket when set: tests put an `UpstreamConnection` on an
    /// `EmbeddedChannel` here, so a whole proxied exchange runs without sockets.
    var connector: ((ServerTarget, TimeAmount) -> EventLoopFuture<UpstreamConnection>)?

    /// Idle connections kept for `server` on this loop.
    func idleCount(_ server: ServerTarget) -> Int { idle[ObjectIdentifier(server.state)]?.connections.count ?? 0 }

    /// The most recently used idle connection to `server` (warmest first), if any.
    func take(_ server: ServerTarget) -> UpstreamConnection? {
        let key = ObjectIdentifier(server.state)
        while let connection = idle[key]?.connections.popLast() {
            if connection.isUsable { return connection }
        }
        return nil
    }

    /// The connection to `server` that a request arriving now may be pipelined onto, if any.
    func joinable(_ server: ServerTarget, depth: Int) -> UpstreamConnection? {
        let key = ObjectIdentifier(server.state)
        guard let connection = pipelining[key] else { return nil }
        if connection.canPipeline(depth: depth) { return connection }
        pipelining[key] = nil
        return nil
    }

    /// Lets requests that arrive in this tick pipeline onto `connection`.
    func offer(_ connection: UpstreamConnection) {
        connection.acceptsPipelining = true
        pipelining[ObjectIdentifier(connection.server.state)] = connection
    }

    /// A connection whose exchange ended, while `inFlight` requests (its own included) are under
    /// way to its server on this loop: kept for the next request, or closed (`IdleKeep`).
    func giveBack(_ connection: UpstreamConnection, maxIdle: Int, inFlight: Int, idleTimeoutNanos: Int64, now: Int64) {
        guard connection.isUsable else { return connection.close() }
        connection.idleDeadline = now + idleTimeoutNanos
        let key = ObjectIdentifier(connection.server.state)
        if !idle[key, default: ServerIdle(now: now)].giveBack(connection, maxIdle: maxIdle, inFlight: inFlight) {
            connection.close()
        }
    }

    /// The loop's sweep: closes connections idle past their timeout or no longer usable, and the
    /// coldest of those a past burst left over its server's limit.
    func closeIdle(now: Int64) {
        // Pipelining offers last one loop tick; clearing them also drops servers a reload removed.
        pipelining.removeAll(keepingCapacity: true)
        for key in Array(idle.keys) {
            guard var entry = idle.removeValue(forKey: key) else { continue }
            var closing: [UpstreamConnection] = []
            entry.connections.removeAll { connection in
                guard connection.idleDeadline <= now || !connection.isUsable else { return false }
                closing.append(connection)
                return true
            }
            let surplus = entry.keep.sweep(now: now, idle: entry.connections.count, maxIdle: entry.maxIdle)
            if surplus > 0 {
                closing += entry.connections.prefix(surplus)
                entry.connections.removeFirst(surplus)
            }
            idle[key] = entry
            for connection in closing { connection.close() }
        }
    }

    func closeAll() {
        for entry in idle.values { for connection in entry.connections { connection.close() } }
        idle.removeAll()
        pipelining.removeAll()
    }

    /// Opens a new connection to `server` on this loop.
    func connect(to server: ServerTarget, timeout: TimeAmount) -> EventLoopFuture<UpstreamConnection> {
        if let connector { return connector(server, timeout) }
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection(server: server))
                }
            }
            .connect(to: server.socketAddress)
        guard let tls = server.tls else {
            return connected.flatMapThrowing { channel in try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self) }
        }
        // TLS goes in front of the connection, which is ready once the handshake is done.
        let eventLoop = self.eventLoop
        return connected.flatMap { channel -> EventLoopFuture<any Channel> in
            do {
                let sync = channel.pipeline.syncOperations
                return try tls.start(on: channel, host: server.address.host, timeout: timeout,
                                     before: try sync.handler(type: UpstreamConnection.self)).map { channel }
            } catch {
                channel.close(promise: nil)
                return eventLoop.makeFailedFuture(error)
            }
        }.flatMapThrowing { channel in try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self) }
    }
}
