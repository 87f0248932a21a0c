import BallastConfig
import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// A bound listener: its socket and the certificates new connections get (a reload swaps
/// them without unbinding the port).
final class ListenerSlot: Sendable {
    let name: String
    let address: Address
    let tls: ListenerTLS?
    /// What it offers by ALPN; a change binds the listener anew.
    let protocols: [String]
    let certificates: NIOLockedValueBox<ListenerCertificates?>
    let channel: any Channel

    init(name: String, address: Address, tls: ListenerTLS?, protocols: [String],
         certificates: NIOLockedValueBox<ListenerCertificates?>, channel: any Channel) {
        self.name = name
        self.address = address
        self.tls = tls
        self.protocols = protocols
        self.certificates = certificates
        self.channel = channel
    }
}

/// What a listener does with each accepted connection: the connection limits, then TLS (the
/// certificate chosen by SNI, a deadline for the handshake), then HTTP/1.1 or HTTP/2.
struct ListenerAcceptor: Sendable {
    let name: String
    let loops: [ObjectIdentifier: LoopLocal<LoopContext>]
    let logger: Logger
    let connections: ConnectionCounter
    let perClient: PerClientConnections
    /// Nil for a cleartext listener.
    let certificates: NIOLockedValueBox<ListenerCertificates?>?
    let speaksH2: Bool
    let speaksH2C: Bool
    /// `ballast_tls_sni_unmatched_total{listener}`: handshakes that asked for a name no
    /// certificate covers and got the default one.
    let unmatchedNames: Counter

    func initialize(_ channel: any Channel) throws {
        guard let context = loops[ObjectIdentifier(channel.eventLoop)]?.value,
              let listener = context.runtime.listeners[name] else {
            channel.close(promise: nil)
            return
        }
        let open = connections.increment()
        let connections = self.connections
        channel.closeFuture.whenComplete { _ in connections.decrement() }
        let limits = listener.config.limits
        // One client may not hold every slot (trusted proxies carry many clients).
        var refusal: String? = open > limits.maxConnections ? Self.overloaded : nil
        if refusal == nil, let key = PerClientConnections.ClientKey(channel.remoteAddress),
           listener.trusted.isEmpty || !listener.trusted.contains(channel.remoteAddress?.ipAddress ?? "") {
            if perClient.admit(key, limit: limits.maxConnectionsPerClient) {
                let perClient = self.perClient
                channel.closeFuture.whenComplete { _ in perClient.release(key) }
            } else {
                refusal = Self.tooManyFromClient
            }
        }
        let sync = channel.pipeline.syncOperations
        // Only a TLS listener reads its (reloadable) certificates, once per connection.
        if let certificates = certificates?.withLockedValue({ $0 }) {
            // A refused TLS client gets no handshake (the answer could not be read anyway).
            if refusal != nil {
                channel.close(promise: nil)
                return
            }
            let unmatched = unmatchedNames
            let sni = SNIHandler { result in
                var name: String?
                if case .hostname(let host) = result { name = host }
                let (served, covered) = certificates.pick(name)
                if !covered { unmatched.increment() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: served.context), position: .after(try sync.handler(type: ByteToMessageHandler<SNIHandler>.self)))
                }
            }
            try sync.addHandler(ByteToMessageHandler(sni))
            // The handshake has the time a request head has (slowloris over TLS).
            try sync.addHandler(HandshakeDeadline(timeout: .nanoseconds(listener.config.timeouts.clientHeader.milliseconds * 1_000_000)))
            if speaksH2 {
                // The client's ALPN choice decides: h2 streams, or HTTP/1.1 as before.
                try sync.addHandler(ApplicationProtocolNegotiationHandler { [logger] result, channel in
                    channel.eventLoop.makeCompletedFuture {
                        if case .negotiated("h2") = result {
                            try HTTP2Serving.configure(channel, loop: context, listener: listener, logger: logger)
                        } else {
                            try channel.pipeline.syncOperations.addHandler(ClientConnection(loop: context, listener: listener, logger: logger))
                        }
                    }
                })
                return
            }
            try sync.addHandler(ClientConnection(loop: context, listener: listener, logger: logger))
            return
        }
        if let refusal {
            channel.writeAndFlush(ByteBuffer(string: refusal)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if speaksH2C {
            // HTTP/2 with prior knowledge, or HTTP/1.1: the first bytes say which.
            try sync.addHandler(PriorKnowledgeSniffer { [logger] http2, sniffer in
                if http2 {
                    try HTTP2Serving.configure(channel, loop: context, listener: listener, logger: logger)
                } else {
                    try channel.pipeline.syncOperations.addHandler(ClientConnection(loop: context, listener: listener, logger: logger),
                                                                    position: .after(sniffer.handler))
                }
            })
            return
        }
        try sync.addHandler(ClientConnection(loop: context, listener: listener, logger: logger))
    }

    /// The answer past `max_connections`.
    static let overloaded: String = {
        let body = #"{"error":"overloaded","message":"too many connections to this listener"}"#
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
    }()

    /// The answer past `max_connections_per_client`.
    static let tooManyFromClient: String = {
        let body = #"{"error":"too_many_connections","message":"too many connections from this client"}"#
        return "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body
    }()
}

/// Closes a connection whose TLS handshake has not completed in time: a client that opens a
/// connection and sends nothing (or a ClientHello a byte at a time) holds no slot for ever.
/// It sits after the TLS handler, sees its handshake event and leaves.
final class HandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            timer = nil
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
