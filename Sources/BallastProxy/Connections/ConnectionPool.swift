import NIOCore
import NIOPosix

/// Kept-alive connections to servers, for one event loop only: taking and returning a
/// connection is an array push or pop, with no lock and no thread hop.
final class ConnectionPool {
    let eventLoop: any EventLoop
    private var idle: [ObjectIdentifier: [UpstreamConnection]] = [:]
    /// Per server, the connection taken this tick that later requests may pipeline onto.
    private var pipelining: [ObjectIdentifier: UpstreamConnection] = [:]

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Opens a connection instead of a socket when set: tests put an `UpstreamConnection` on an
    /// `EmbeddedChannel` here, so a whole proxied exchange runs without sockets.
    var connector: ((ServerTarget, TimeAmount) -> EventLoopFuture<UpstreamConnection>)?

    /// Idle connections kept for `server` on this loop.
    func idleCount(_ server: ServerTarget) -> Int { idle[ObjectIdentifier(server.state)]?.count ?? 0 }

    /// The most recently used idle connection to `server` (warmest first), if any.
    func take(_ server: ServerTarget) -> UpstreamConnection? {
        let key = ObjectIdentifier(server.state)
        while let connection = idle[key]?.popLast() {
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

    func giveBack(_ connection: UpstreamConnection, maxIdle: Int, idleTimeoutNanos: Int64, now: Int64) {
        let key = ObjectIdentifier(connection.server.state)
        guard connection.isUsable, idle[key, default: []].count < maxIdle else {
            connection.close()
            return
        }
        connection.idleDeadline = now + idleTimeoutNanos
        idle[key, default: []].append(connection)
    }

    func closeIdle(now: Int64) {
        // Pipelining offers last one loop tick; clearing them also drops servers a reload removed.
        pipelining.removeAll(keepingCapacity: true)
        for (key, connections) in idle {
            let expired = connections.filter { $0.idleDeadline <= now || !$0.isUsable }
            guard !expired.isEmpty else { continue }
            idle[key] = connections.filter { $0.idleDeadline > now && $0.isUsable }
            for connection in expired { connection.close() }
        }
    }

    func closeAll() {
        for connections in idle.values { for connection in connections { connection.close() } }
        idle.removeAll()
        pipelining.removeAll()
    }

    /// Opens a new connection to `server` on this loop.
    func connect(to server: ServerTarget, timeout: TimeAmount) -> EventLoopFuture<UpstreamConnection> {
        if let connector { return connector(server, timeout) }
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection(server: server))
                }
            }
            .connect(to: server.socketAddress)
            .flatMapThrowing { channel in
                try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self)
            }
    }
}
