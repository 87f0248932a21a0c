import NIOCore

/// On a cleartext listener that lists `h2c`: the first bytes decide between HTTP/2 with prior
/// knowledge (the 24-byte connection preface, RFC 9113 §3.3) and HTTP/1.1. Whatever was read
/// while deciding goes on to the handlers chosen, then this handler leaves the pipeline.
final class PriorKnowledgeSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// Which way the first bytes point: nil while they are a strict prefix of the preface.
    static func speaksHTTP2(_ bytes: some Collection<UInt8>) -> Bool? {
        let seen = min(bytes.count, preface.count)
        guard bytes.prefix(seen).elementsEqual(preface.prefix(seen)) else { return false }
        return seen == preface.count ? true : nil
    }

    private var buffered: ByteBuffer?
    private let choose: (_ http2: Bool, _ context: ChannelHandlerContext) throws -> Void

    /// `choose` adds the handlers for the protocol after this one.
    init(choose: @escaping (_ http2: Bool, _ context: ChannelHandlerContext) throws -> Void) {
        self.choose = choose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let bytes = buffered!.readableBytesView
        guard let http2 = Self.speaksHTTP2(bytes) else { return }
        do {
            try choose(http2, context)
        } catch {
            context.close(promise: nil)
            return
        }
        let first = buffered!
        buffered = nil
        context.fireChannelRead(wrapInboundOut(first))
        context.fireChannelReadComplete()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
