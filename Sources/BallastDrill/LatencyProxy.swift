import BallastConfig
import NIOCore
import NIOPosix
import Synchronization

/// A TCP proxy in the manner of Toxiproxy's latency and reset toxics: it forwards bytes both
/// ways; while `latency` is above zero, it holds each chunk that long before passing it on;
/// while cut, every connection through it is closed and new ones are closed as they arrive
/// (a server that went away, as a database host behind a failed network link).
package final class LatencyProxy: Sendable {
    let latencyNanos = Atomic<Int64>(0)
    let cut = Atomic<Bool>(false)
    let target: (host: String, port: Int)
    private let channel: Mutex<Channel?> = Mutex(nil)
    private let open = Mutex<[ObjectIdentifier: Channel]>([:])

    package init(target host: String, port: Int) {
        self.target = (host, port)
    }

    package func setLatency(_ value: Duration) { latencyNanos.store(Int64(value.milliseconds) * 1_000_000, ordering: .relaxed) }

    /// Cuts the link (closes every connection, refuses new ones) or restores it.
    package func setCut(_ value: Bool) {
        cut.store(value, ordering: .relaxed)
        guard value else { return }
        for channel in open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }

    private func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        open.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in _ = self?.open.withLock { $0.removeValue(forKey: id) } }
    }

    package func start(host: String, port: Int) async throws {
        let proxy = self
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                if proxy.cut.load(ordering: .relaxed) { return inbound.close() }
                proxy.track(inbound)
                return ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: proxy.target.host, port: proxy.target.port)
                    .flatMap { outbound in
                        proxy.track(outbound)
                        let toServer = Relay(peer: outbound, proxy: proxy)
                        let toClient = Relay(peer: inbound, proxy: proxy)
                        return inbound.pipeline.addHandler(toServer).flatMap {
                            outbound.pipeline.addHandler(toClient)
                        }.map {
                            // The inbound channel is not registered yet (the initializer runs first);
                            // its relay starts reading in channelActive.
                            outbound.read()
                        }
                    }
            }
            .bind(host: host, port: port).get()
        channel.withLock { $0 = server }
    }

    /// The port it listens on (for a proxy started on port 0).
    package var port: Int? { channel.withLock { $0?.localAddress?.port } }

    package func stop() async {
        let server = channel.withLock { $0 }
        try? await server?.close()
    }
}

/// Passes what one side reads to the other, after the proxy's latency; closes the peer with it.
private final class Relay: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let peer: Channel
    let proxy: LatencyProxy

    init(peer: Channel, proxy: LatencyProxy) {
        self.peer = peer
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        let delay = proxy.latencyNanos.load(ordering: .relaxed)
        let peer = self.peer
        let channel = context.channel
        let forward: @Sendable () -> Void = {
            peer.writeAndFlush(buffer).whenComplete { _ in channel.read() }
        }
        if delay > 0 {
            context.eventLoop.scheduleTask(in: .nanoseconds(delay)) { forward() }
        } else {
            forward()
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
