import BallastConfig
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2

/// HTTP/2 from clients on a TLS listener that negotiated `h2`: each stream becomes one
/// `ClientConnection` exchange through an `HTTP2StreamBridge` (the same lifecycle, routing and
/// pools as HTTP/1.1).
///
/// The limits are swift-nio-http2's defences with Ballast's numbers: at most 100 concurrent
/// streams, a header list no larger than the listener's `max_header_bytes`, 64 KiB windows;
/// the rapid-reset flood (CVE-2023-44487: streams opened and reset at once) and the
/// CONTINUATION flood (2024) end the connection with GOAWAY (`maximumConnectionGlitches`,
/// `maximumSequentialContinuationFrames`, `maximumRecentlyResetStreams`).
enum HTTP2Serving {
    static let maxConcurrentStreams = 100

    static func connectionConfiguration(maxHeaderBytes: Int) -> NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: maxHeaderBytes),
            HTTP2Setting(parameter: .initialWindowSize, value: 65_535),
        ]
        return configuration
    }

    static func configure(_ channel: any Channel, loop: LoopContext, listener: ListenerRuntime, logger: Logger) throws {
        let bound = NIOLoopBound((loop, listener, logger), eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(CoalescingFlush(loop: loop))
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: connectionConfiguration(maxHeaderBytes: listener.config.limits.maxHeaderBytes),
            streamConfiguration: NIOHTTP2Handler.StreamConfiguration()
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let (loop, listener, logger) = bound.value
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try sync.addHandler(HTTP2StreamBridge())
                try sync.addHandler(ClientConnection(loop: loop, listener: listener, logger: logger))
            }
        }
        try channel.pipeline.syncOperations.addHandler(CloseOnConnectionError())
    }

    /// Below the HTTP/2 handler: every stream's flush (each response) flushes the connection,
    /// which was one TLS record and one write(2) per response (28% of the CPU at 10 streams
    /// per connection). The connection is flushed once at the end of the loop tick instead, with
    /// everything its streams wrote in that tick (`LoopContext.flushSoon`).
    final class CoalescingFlush: ChannelOutboundHandler, DeferredFlush {
        typealias OutboundIn = Any
        private let loop: LoopContext
        private var context: ChannelHandlerContext?
        var flushQueued = false

        init(loop: LoopContext) { self.loop = loop }

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }
        func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

        func flush(context: ChannelHandlerContext) { loop.flushSoon(self) }

        func flushNow() { context?.flush() }

        /// What was written goes out before the close (a GOAWAY, the last responses).
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            context.flush()
            context.close(mode: mode, promise: promise)
        }
    }

    /// A connection error (a flood, a protocol violation) was answered with GOAWAY: the
    /// connection ends there (RFC 9113 §5.4.1), instead of staying open for the client.
    final class CloseOnConnectionError: ChannelInboundHandler {
        typealias InboundIn = Any

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
