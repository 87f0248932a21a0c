import BallastConfig
import CoreMetrics
import NIOCore

/// `ballast_tunnels_open`, `ballast_tunnel_bytes_total` and `ballast_tunnels_closed_total` of
/// one route, made on the route's first tunnel on a loop.
final class TunnelMetrics {
    let open: Meter
    let fromClient: Counter
    let fromServer: Counter
    private let route: String
    private var closed: [TunnelState.CloseCause: Counter] = [:]

    init(route: String) {
        self.route = route
        open = Meter(label: "ballast_tunnels_open", dimensions: [("route", route)])
        fromClient = Counter(label: "ballast_tunnel_bytes_total", dimensions: [("route", route), ("direction", "from_client")])
        fromServer = Counter(label: "ballast_tunnel_bytes_total", dimensions: [("route", route), ("direction", "from_server")])
    }

    func closed(_ cause: TunnelState.CloseCause) -> Counter {
        if let counter = closed[cause] { return counter }
        let counter = Counter(label: "ballast_tunnels_closed_total", dimensions: [("route", route), ("cause", cause.rawValue)])
        closed[cause] = counter
        return counter
    }
}

/// Upgraded connections (`TunnelState`): after the server's 101 the client and server
/// connections pass bytes to each other as they come, with back-pressure both ways (neither
/// side is read while the other cannot take more), until one closes or a timeout ends it.
extension ClientConnection {
    /// The server answered the upgrade with 101: the exchange counts as answered (its latency
    /// is the handshake's), the server connection stays the exchange's until the tunnel ends.
    func startTunnel(_ exchange: Exchange, head: ResponseHead, connection: UpstreamConnection) {
        guard let context else { return }
        let now = loop.now
        exchange.state.switchedProtocols()
        let rendered = renderResponseHead(head, close: false, switching: true, requestID: exchange, allocator: context.channel.allocator)
        exchange.bytesOut &+= rendered.readableBytes
        context.write(wrapOutboundOut(rendered), promise: nil)
        needsFlush = true
        loop.requestCounter(listener: listenerName, route: exchange.route, code: 101).increment()
        loop.durationTimer(exchange.route).recordNanoseconds(now - exchange.start)
        let timeouts = exchange.route.config.timeouts
        let state = TunnelState(now: now, idleTimeout: timeouts.tunnelIdle.milliseconds * 1_000_000,
                                maxDuration: timeouts.tunnelMax.milliseconds * 1_000_000)
        tunnel = state
        lifecycle.tunnel(until: state.deadline)
        loop.tunnelMetrics(exchange.route).open.increment()
        loop.openTunnels[exchange.route.config.name, default: 0] += 1
        // Bytes the client sent after its request head already belong to the new protocol.
        if let early = requests.takeAll(), early.readableBytes > 0 { tunnelFromClient(early) }
    }

    /// Client bytes in a tunnel go to the server as they are.
    func tunnelFromClient(_ buffer: ByteBuffer) {
        guard let exchange, let upstream = exchange.upstream else { return }
        tunnel?.fromClient(buffer.readableBytes, now: loop.now)
        exchange.bodyBytesIn &+= buffer.readableBytes
        loop.tunnelMetrics(exchange.route).fromClient.increment(by: Int64(buffer.readableBytes))
        upstream.write(buffer)
        loop.flushSoon(upstream)
    }

    func upstreamTunnel(_ bytes: ByteBuffer) {
        guard let exchange, let context, tunnel != nil else { return }
        tunnel?.fromServer(bytes.readableBytes, now: loop.tick())
        exchange.bytesOut &+= bytes.readableBytes
        loop.tunnelMetrics(exchange.route).fromServer.increment(by: Int64(bytes.readableBytes))
        context.write(wrapOutboundOut(bytes), promise: nil)
        needsFlush = true
        if !context.channel.isWritable { exchange.upstream?.readsPaused = true }
    }

    func upstreamTunnelClosed(from connection: UpstreamConnection) {
        guard let exchange, exchange.upstream === connection, tunnel != nil else { return }
        exchange.upstream = nil
        // A server that closes after the client's EOF only followed the client.
        endTunnel(tunnel?.clientDone == true ? .client : .server)
        // What the server sent last (a WebSocket close frame) reaches the client before the close.
        lingerThenClose()
    }

    /// The client half-closed its side of a tunnel: the server hears the same.
    func tunnelClientClosedInput() {
        tunnel?.clientClosedInput()
        exchange?.upstream?.closeOutput()
    }

    /// The sweep found the tunnel's deadline passed: it ends, or it moved and goes on.
    func tunnelDeadlinePassed(now: Int64) {
        guard let state = tunnel else { return }
        if let cause = state.expiry(now: now) {
            endTunnel(cause)
            closeNow()
        } else {
            lifecycle.tunnel(until: state.deadline)
        }
    }

    /// Ends the tunnel's accounting once, whatever closed it; closes the server side.
    func endTunnel(_ cause: TunnelState.CloseCause) {
        guard tunnel != nil, let exchange else { return }
        tunnel = nil
        let metrics = loop.tunnelMetrics(exchange.route)
        metrics.open.decrement()
        let route = exchange.route.config.name
        if let open = loop.openTunnels[route], open > 1 { loop.openTunnels[route] = open - 1 } else { loop.openTunnels[route] = nil }
        metrics.closed(cause).increment()
        // The tunnel's access log line: the whole exchange, its bytes both ways, its lifetime.
        if let accessLog = listener.accessLog { writeAccessLog(accessLog, exchange, code: 101, elapsed: loop.now - exchange.start) }
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            upstream.close(by: self)
        }
        self.exchange = nil
        if let server = exchange.server {
            attemptEnded(exchange, server: server)
            exchange.server = nil
        }
        requests.recycle(exchange.head.fields)
        if !loop.waiting.isEmpty { loop.serveWaiting() }
    }
}
