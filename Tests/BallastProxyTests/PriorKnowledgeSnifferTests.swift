import NIOCore
import NIOEmbedded
import Testing
@testable import BallastProxy

/// `PriorKnowledgeSniffer`: the connection preface, however it is split, means HTTP/2; anything
/// else means HTTP/1.1 at its first differing byte; the bytes read go on either way.
@Suite struct PriorKnowledgeSnifferTests {
    @Test func theDecisionFollowsTheFirstBytes() {
        #expect(PriorKnowledgeSniffer.speaksHTTP2(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)) == true)
        #expect(PriorKnowledgeSniffer.speaksHTTP2(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\u{4}".utf8)) == true)
        #expect(PriorKnowledgeSniffer.speaksHTTP2(Array("PRI * HTTP".utf8)) == nil)
        #expect(PriorKnowledgeSniffer.speaksHTTP2([UInt8]()) == nil)
        #expect(PriorKnowledgeSniffer.speaksHTTP2(Array("GET / HTTP/1.1\r\n".utf8)) == false)
        #expect(PriorKnowledgeSniffer.speaksHTTP2(Array("PRI / HTTP/1.1".utf8)) == false)
    }

    /// Collects what reaches the handler after the sniffer.
    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var received = ""
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { received += String(buffer: unwrapInboundIn(data)) }
    }

    @Test(arguments: [
        (["PRI * HTTP/2", ".0\r\n\r\nSM\r\n", "\r\nrest"], true),
        (["GE", "T / HTTP/1.1\r\n\r\n"], false),
        (["P", "OST / HTTP/1.1\r\n\r\n"], false),
    ])
    func theBytesReadWhileDecidingGoOn(_ pieces: [String], _ http2: Bool) throws {
        let channel = EmbeddedChannel()
        let collector = Collector()
        var chosen: [Bool] = []
        try channel.pipeline.syncOperations.addHandler(PriorKnowledgeSniffer { isHTTP2, context in
            chosen.append(isHTTP2)
            try context.pipeline.syncOperations.addHandler(collector, position: .after(context.handler))
        })
        for piece in pieces { try channel.writeInbound(ByteBuffer(string: piece)) }
        #expect(chosen == [http2])
        #expect(collector.received == pieces.joined())
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.context(handlerType: PriorKnowledgeSniffer.self) }
    }
}
