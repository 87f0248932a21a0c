import BallastConfig
import NIOCore
import NIOEmbedded
import Testing
@testable import BallastProxy

/// The client side of an exchange, recorded: what an `UpstreamConnection` tells it.
final class RecordingClient: UpstreamClient {
    var events: [String] = []
    var disposition: HeadDisposition = .verbatim
    var writable = true
    var flushes = 0

    func upstreamInterimResponse(_ bytes: ByteBuffer) { events.append("interim \(String(buffer: bytes).prefix(12))") }
    func upstreamResponseHead(_ head: ResponseHead, from connection: UpstreamConnection) -> HeadDisposition {
        events.append("head \(head.status)")
        return disposition
    }
    func upstreamBody(_ slice: ByteBuffer) { events.append("body \(String(buffer: slice))") }
    func upstreamResponseEnd(from connection: UpstreamConnection) { events.append("end") }
    func upstreamFailed(_ failure: UpstreamFailure, from connection: UpstreamConnection) { events.append("failed \(failure)") }
    func upstreamWritabilityChanged(writable: Bool) {}
    func flushToClient() { flushes += 1 }
    var isClientWritable: Bool { writable }
}

/// An `UpstreamConnection` on an `EmbeddedChannel`: the server's bytes in, the events its
/// clients see out, no sockets.
struct EmbeddedServer {
    let channel: EmbeddedChannel
    let connection: UpstreamConnection

    init() throws {
        let address = Address(host: "127.0.0.1", port: 9)
        let target = ServerTarget(index: 0, address: address, socketAddress: try SocketAddress(ipAddress: "127.0.0.1", port: 9),
                                  weight: 1, state: ServerState(address: address), key: "127.0.0.1:9")
        connection = UpstreamConnection(server: target)
        channel = EmbeddedChannel(handler: connection, loop: EmbeddedEventLoop())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
    }

    func serverSends(_ text: String) throws { try channel.writeInbound(ByteBuffer(string: text)) }
    /// The server closes its side.
    func serverCloses() { channel.pipeline.fireChannelInactive() }
}

@Suite struct UpstreamConnectionTests {
    @Test func aVerbatimHeadLeavesInOneSliceWithItsBodyAndTheConnectionIsReusable() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        #expect(client.events == ["head 200", "body HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "end"])
        #expect(server.connection.isUsable && !server.connection.isBusy)
        #expect(client.flushes == 0)  // it forgot its owner with the end; the client flushes for itself
    }

    @Test func aRewrittenHeadIsNotSentAgainAndABodyInTwoReadsArrivesInTwoSlices() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        client.disposition = .written
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        try server.serverSends("0\r\n\r\n")
        #expect(client.events == ["head 200", "body 3\r\nabc\r\n", "body 0\r\n\r\n", "end"])
        #expect(server.connection.isUsable)
    }

    @Test func pipelinedResponsesGoToTheirClientsInOrder() throws {
        let server = try EmbeddedServer()
        let (a, b) = (RecordingClient(), RecordingClient())
        server.connection.begin(owner: a, isHead: false)
        server.connection.begin(owner: b, isHead: true)
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")
        #expect(a.events == ["head 200", "body HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", "end"])
        // A HEAD response has no body, whatever its Content-Length says.
        #expect(b.events == ["head 204", "body HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", "end"])
        #expect(server.connection.isUsable)
    }

    @Test func aCloseBeforeAnyResponseFailsEveryClientWaitingOnIt() throws {
        let server = try EmbeddedServer()
        let (a, b) = (RecordingClient(), RecordingClient())
        server.connection.begin(owner: a, isHead: false)
        server.connection.begin(owner: b, isHead: false)
        server.serverCloses()
        #expect(a.events == ["failed closedBeforeResponse"])
        #expect(b.events == ["failed closedBeforeResponse"])
        #expect(!server.connection.isUsable)
    }

    @Test func aCloseMidBodyIsAMidResponseFailure() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        server.serverCloses()
        #expect(client.events.last == "failed closedMidResponse")
    }

    @Test func aBodyUntilCloseEndsAtTheCloseAndIsNeverReused() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.0 200 OK\r\n\r\nall of it")
        server.serverCloses()
        #expect(client.events == ["head 200", "body HTTP/1.0 200 OK\r\n\r\nall of it", "end"])
        #expect(!server.connection.isUsable)
    }

    @Test func aBrokenResponseFailsAndClosesTheConnection() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        #expect(client.events.count == 1 && client.events[0].hasPrefix("failed malformedResponse"))
        #expect(!server.channel.isActive)
    }

    @Test func bytesAfterTheResponseOrWhileIdleMeanTheConnectionIsNotReused() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nextra")
        #expect(client.events.last == "end")
        #expect(!server.connection.isUsable)

        let idle = try EmbeddedServer()
        try idle.serverSends("HTTP/1.1 200 OK\r\n\r\n")
        #expect(!idle.channel.isActive)
    }

    @Test func aClientThatLeavesAPipelineLosesOnlyItsOwnResponse() throws {
        let server = try EmbeddedServer()
        let (a, b) = (RecordingClient(), RecordingClient())
        server.connection.begin(owner: a, isHead: false)
        server.connection.begin(owner: b, isHead: false)
        server.connection.leave(by: b)
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
        #expect(a.events.last == "end")
        #expect(server.connection.isBusy)  // still reading b's response, to drop it
        try server.serverSends("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb")
        #expect(b.events.isEmpty)
        // Nobody is left to give it back to the pool.
        #expect(!server.channel.isActive)
    }

    @Test func interimHeadsArePassedOnBeforeTheFinalOne() throws {
        let server = try EmbeddedServer()
        let client = RecordingClient()
        server.connection.begin(owner: client, isHead: false)
        try server.serverSends("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        #expect(client.events.first == "interim HTTP/1.1 100" && client.events.dropFirst().first == "head 201")
    }
}
