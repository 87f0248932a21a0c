import BallastConfig
import Logging
import NIOCore

/// One request in flight on a client connection, from its head to the end of its response:
/// what it is (head, route, server, server connection) and how far it got (`state`).
final class Exchange {
    var head: RequestHead
    /// Replaced when a canary request falls back to the stable config.
    var route: RouteRuntime
    let start: Int64
    var hashKey: UInt64?
    var upstream: UpstreamConnection?
    var server: ServerTarget?
    /// When the attempt on `server` began (for its latency).
    var attemptStart: Int64 = 0
    /// Counted in `server`'s requests under way (its upstream has `limits`).
    var countedOn: ServerState?
    /// Waiting for its upstream's capacity since then (`CircuitBreaker`).
    var waitingSince: Int64?
    /// Request, response and attempts (`ExchangeState`).
    var state: ExchangeState
    /// `X-Request-Id` as sent upstream: 128 random bits, or a trusted proxy's text.
    var requestID: (UInt64, UInt64) = (0, 0)
    var requestIDText: String?
    /// Body bytes read from the client; bytes written to it (head and body).
    var bodyBytesIn = 0
    var bytesOut = 0
    /// The last server that was asked, for the access log (`server` is cleared as attempts end).
    var answeredBy: ServerTarget?
    /// The W3C trace this request belongs to: the client's, or one started for it.
    var trace: TraceContext?

    init(head: RequestHead, route: RouteRuntime, start: Int64, state: ExchangeState) {
        self.head = head
        self.route = route
        self.start = start
        self.state = state
    }
}

/// The client side of a proxied connection: parses requests, routes them, streams bodies to
/// the server connection and its responses back, all on this channel's event loop.
///
/// Reads are gated (`read(context:)`) for back-pressure: the client is not read while the
/// server connection cannot take more, nor while a finished request waits for its response
/// (pipelined requests stay queued in `requests`).
final class ClientConnection: ChannelDuplexHandler, DeferredFlush, UpstreamClient {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let loop: LoopContext
    let listenerName: String
    let logger: Logger
    private(set) var context: ChannelHandlerContext?
    var listener: ListenerRuntime
    private var runtimeSeen: ProxyRuntime
    /// Where the client's requests begin and end; holds what was read and not yet taken.
    var requests: RequestFraming
    var exchange: Exchange?
    /// The current request is HTTP/1.0: a kept connection must say `Connection: keep-alive`.
    var answersHTTP10 = false
    var peerIP = ""
    var peerTrusted = false
    /// `X-Forwarded-For: IP\r\nX-Forwarded-Proto: http\r\nX-Request-Id: `, built once per
    /// connection for untrusted peers, whose forwarding headers are always replaced.
    var forwardedPrefix = ByteBuffer()
    /// The verified client certificate's subject on a listener with `client_ca` ("" when none).
    var clientSubject: String?
    private var pendingRead = false
    /// The connection's phase, its deadline and when it reads (`ConnectionLifecycle`).
    var lifecycle = ConnectionLifecycle()
    /// After a server's 101: the exchange's connections pass bytes to each other (`TunnelState`).
    var tunnel: TunnelState?
    /// The listener's timeouts in nanoseconds, for the lifecycle's deadlines.
    private var timeouts: ConnectionLifecycle.Timeouts
    var needsFlush = false
    var flushQueued = false
    /// True while `processInput` runs, so answers given inside it do not re-enter it.
    var inputProcessingActive = false

    /// Closed, or lingering after an early answer: nothing more is read or answered.
    var closing: Bool { lifecycle.isClosing }
    /// Set on SIGTERM: finish the current exchange, then close.
    var draining: Bool { lifecycle.draining }
    /// The client half-closed: answer what it sent, then close.
    var inputClosed: Bool { lifecycle.inputClosed }

    init(loop: LoopContext, listener: ListenerRuntime, logger: Logger) {
        self.loop = loop
        self.listener = listener
        self.listenerName = listener.config.name
        self.runtimeSeen = loop.runtime
        self.logger = logger
        self.requests = RequestFraming(maxHeadBytes: listener.config.limits.maxHeaderBytes,
                                       maxBodyBytes: listener.config.limits.maxBodyBytes)
        self.timeouts = Self.timeouts(listener.config)
    }

    static func timeouts(_ listener: Listener) -> ConnectionLifecycle.Timeouts {
        ConnectionLifecycle.Timeouts(idle: listener.timeouts.idle.milliseconds * 1_000_000,
                                     header: listener.timeouts.clientHeader.milliseconds * 1_000_000,
                                     stall: listener.timeouts.stall.milliseconds * 1_000_000)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let remote = context.channel.remoteAddress {
            peerIP = remote.ipAddress ?? ""
        }
        peerTrusted = !listener.trusted.isEmpty && listener.trusted.contains(peerIP)
        forwardedPrefix = ByteBuffer(string: "X-Forwarded-For: \(peerIP)\r\nX-Forwarded-Proto: \(scheme)\r\nX-Request-Id: ")
        loop.clients[ObjectIdentifier(self)] = self
        enter(.idle)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lifecycle.close()
        loop.clients[ObjectIdentifier(self)] = nil
        endTunnel(.client)
        if let exchange {
            // The client left mid-exchange: the server connection is in an unknown state.
            exchange.upstream?.leave(by: self)
            exchange.upstream = nil
            if !exchange.state.responseComplete { finishExchange(exchange, code: 499) }
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            lifecycle.inputClosed = true
            if tunnel != nil { return tunnelClientClosedInput() }
            if lifecycle.phase == .lingering {
                closeNow()  // the client sent everything; the answer is out
                return
            }
            if let exchange, !exchange.state.requestComplete {
                // The body can never be completed: nothing sensible can reach the server.
                abortRequest(exchange, status: 400, error: "bad_request", message: "the request body ended early")
            } else if exchange == nil {
                processInput()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("client connection error", metadata: ["error": "\(error)"])
        endTunnel(.client)  // a reset from the client ends its tunnel
        closeNow()
    }

    /// Closes after what was written has gone out (a flush deferred to the end of the tick would
    /// come too late, and NIO drops queued writes at close).
    func closeNow() {
        if lifecycle.phase == .lingering {
            lifecycle.close()
            context?.close(promise: nil)
            return
        }
        guard !closing else { return }
        // A tunnel cut from here: the drain period of a shutdown ended, or a connection failed.
        endTunnel(draining ? .shutdown : .error)
        lifecycle.close()
        flushNow()
        guard let context else { return }
        // NIO drops writes still queued when a channel closes: a slow reader would lose the tail
        // of its response (seen: 3.7 KB of a 16 MiB body). The close waits for them, as nginx's
        // does, but no longer than `timeouts.stall`, so a client that stopped reading cannot
        // hold the connection.
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        let cutoff = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(timeouts.stall)) { context.close(promise: nil) }
        written.futureResult.assumeIsolated().whenComplete { _ in
            cutoff.cancel()
            context.close(promise: nil)
        }
    }

    var scheme: String { listener.config.tls == nil ? "http" : "https" }

    /// Refreshes the listener after a reload; requests in flight keep their own route.
    private func refreshListener() {
        let runtime = loop.runtime
        guard runtime !== runtimeSeen else { return }
        runtimeSeen = runtime
        if let updated = runtime.listeners[listenerName] {
            listener = updated
            requests.parser.maxHeadBytes = updated.config.limits.maxHeaderBytes
            requests.parser.maxBodyBytes = updated.config.limits.maxBodyBytes
            peerTrusted = !updated.trusted.isEmpty && updated.trusted.contains(peerIP)
            timeouts = Self.timeouts(updated.config)
        }
    }

    // MARK: Deadlines

    /// Moves the lifecycle to `phase`, with its deadline from now.
    func enter(_ phase: ConnectionLifecycle.Phase, responseTimeout: Int64 = 0) {
        lifecycle.enter(phase, now: loop.now, timeouts: timeouts, responseTimeout: responseTimeout)
    }

    /// SIGTERM: the exchange in flight finishes, then the connection closes (an idle one at once).
    func drain() {
        lifecycle.drain()
        if exchange == nil { closeNow() }
    }

    /// A streaming response moved (bytes from the server, or the client read some): its stall
    /// deadline starts again.
    @inline(__always)
    func responseProgressed() {
        lifecycle.progressed(now: loop.now, timeouts: timeouts)
    }

    /// Ends the connection after an answer sent before the request was read to its end,
    /// without losing that answer to a reset (`LingeringClose`).
    func lingerThenClose() {
        guard !closing, let context else { return }
        requests.discardInput()
        flushNow()
        lifecycle.startLingering(now: loop.now)
        context.close(mode: .output, promise: nil)
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    func checkDeadline(now: Int64) {
        switch lifecycle.expiry(now: now) {
        case .none: break
        case .close: closeNow()
        case .headTimedOut: respondLocally(status: 408, error: "request_timeout", message: "the request head did not arrive in time", close: true)
        case .responseTimedOut: responseTimedOut()
        case .responseStalled: responseStalled()
        case .tunnelDeadline: tunnelDeadlinePassed(now: now)
        }
    }

    // MARK: Reading

    func read(context: ChannelHandlerContext) {
        if wantsInput { context.read() } else { pendingRead = true }
    }

    /// Whether more client bytes can be taken now (back-pressure).
    ///
    /// Reads keep flowing while a request waits for its response: a pipelined request simply
    /// waits in `requests`, bounded by the header limit. Holding `read()` there would make NIO
    /// unregister and re-register the socket with epoll on every request (two syscalls).
    private var wantsInput: Bool {
        guard let exchange else { return lifecycle.wantsInput(.nextRequest) }
        if tunnel != nil { return lifecycle.wantsInput(.tunnel(serverWritable: exchange.upstream?.isWritable ?? false)) }
        if exchange.state.requestComplete {
            return lifecycle.wantsInput(.response(buffered: requests.bufferedBytes, limit: requests.parser.maxHeadBytes))
        }
        return lifecycle.wantsInput(.body(serverWritable: exchange.upstream?.isWritable, pending: exchange.state.heldBodyBytes))
    }

    func resumeReadingIfWanted() {
        if pendingRead, wantsInput, let context {
            pendingRead = false
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if lifecycle.phase == .lingering {
            if lifecycle.lingerReceived(buffer.readableBytes, now: loop.tick()) { closeNow() }
            return
        }
        guard !closing else { return }
        loop.tick()
        if tunnel != nil { return tunnelFromClient(buffer) }
        requests.append(&buffer)
        processInput()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let upstream = exchange?.upstream { loop.flushSoon(upstream) }
        flushToClient()
    }

    /// Parses and forwards what `requests` holds, as far as the current state allows.
    func processInput() {
        inputProcessingActive = true
        defer { inputProcessingActive = false }
        while !closing {
            if let exchange {
                if !exchange.state.requestComplete { consumeBody(exchange) }
                return
            }
            guard requests.hasInput else {
                requests.discardInput()
                if inputClosed {
                    closeNow()
                } else if lifecycle.phase != .idle {
                    enter(.idle)
                }
                return
            }
            if lifecycle.phase != .readingHead { enter(.readingHead) }
            // A reload's limits apply from the next head on; requests in flight keep their own.
            refreshListener()
            switch requests.nextHead() {
            case .head(let head):
                enter(.handling)
                startExchange(head)
            case .refused(let error):
                respondLocally(status: error.status, error: error.status == 400 ? "bad_request" : "request_refused",
                               message: error.reason, close: true)
                return
            default:
                if inputClosed { closeNow() }  // a partial head that can never complete
                return
            }
        }
    }

    private func consumeBody(_ exchange: Exchange) {
        while true {
            switch requests.nextBody() {
            case .body(let slice):
                sendBody(slice, exchange)
            case .end:
                return requestFinished(exchange)
            case .bodyFailed(let status, let error, let message):
                return abortRequest(exchange, status: status, error: error, message: message)
            default:
                return
            }
        }
    }

    private func requestFinished(_ exchange: Exchange) {
        if exchange.state.requestEnded() { completeExchange(exchange) }
    }

    private func sendBody(_ slice: ByteBuffer, _ exchange: Exchange) {
        guard slice.readableBytes > 0 else { return }
        exchange.bodyBytesIn &+= slice.readableBytes
        if exchange.state.body(slice, serverAttached: exchange.upstream != nil) == .write { exchange.upstream?.write(slice) }
    }

    /// A request that cannot go on (bad body framing, too large): answer if nothing was sent yet,
    /// and close either way, since the rest of the stream cannot be trusted.
    func abortRequest(_ exchange: Exchange, status: Int, error: String, message: String) {
        exchange.upstream?.close(by: self)
        exchange.upstream = nil
        switch exchange.state.answerLocally(close: true) {
        case .cut:
            finishExchange(exchange, code: exchange.state.status)
            closeNow()
        case .respond:
            respondLocally(status: status, error: error, message: message, close: true)
        }
    }

    // MARK: Writability

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard let upstream = exchange?.upstream else { return }
        if context.channel.isWritable {
            responseProgressed()
            upstream.resumeReads()
        } else {
            upstream.readsPaused = true
        }
    }

    var isClientWritable: Bool { context?.channel.isWritable ?? false }

    func upstreamWritabilityChanged(writable: Bool) {
        if writable { resumeReadingIfWanted() }
    }
}
