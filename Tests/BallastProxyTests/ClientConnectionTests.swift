import BallastConfig
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import BallastProxy

/// A client connection on an `EmbeddedChannel`: bytes in, bytes out, no sockets, no sleeps.
/// Only paths that never reach a server are driven here; those go through the integration tests.
struct EmbeddedClient {
    let channel: EmbeddedChannel
    let loop: EmbeddedEventLoop

    init(_ yaml: String = embeddedConfig) throws {
        let config = try ConfigLoader.load(text: yaml, file: "t.yaml").get().config
        let runtime = try RuntimeCompiler(loopCount: 1).compile(config, version: 1)
        loop = EmbeddedEventLoop()
        let context = LoopContext(index: 0, eventLoop: loop, runtime: runtime)
        let handler = ClientConnection(loop: context, listener: runtime.listeners["public"]!, logger: Logger(label: "test"))
        channel = EmbeddedChannel(handler: handler, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    func response() throws -> String {
        var out = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            out += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return out
    }
}

let embeddedConfig = """
version: 1
listeners:
  - name: public
    listen: 127.0.0.1:8080
    limits: { max_header_bytes: 1024, max_body_bytes: 100 }
    timeouts: { client_header: 2s, idle: 30s }
    routes:
      - { name: api, match: { path_prefix: /api/ }, upstream: app }
upstreams:
  - name: app
    servers: [127.0.0.1:1]
"""

@Suite struct ClientConnectionTests {
    @Test(arguments: [
        ("GET /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 Bad Request"),
        ("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400 Bad Request"),
        ("POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", "501 Not Implemented"),
        ("GET /api/x HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "400 Bad Request"),
        ("GET /api/x HTTP/1.1\nHost: a\r\n\r\n", "400 Bad Request"),
        ("GET /api/x HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", "400 Bad Request"),
        ("GET /api/x HTTP/3.0\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported"),
        ("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", "413 Content Too Large"),
        ("GET /api/x HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "y", count: 1100) + "\r\n\r\n", "431 Request Header Fields Too Large"),
    ])
    func refusesAndCloses(request: String, status: String) throws {
        let client = try EmbeddedClient()
        try client.send(request)
        let response = try client.response()
        #expect(response.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(response)")
        #expect(response.contains("Connection: close\r\n"))
        #expect(response.contains(#""error":"#))
        #expect(!client.channel.isActive)
    }

    @Test func noRouteIs404AndKeepsTheConnection() throws {
        let client = try EmbeddedClient()
        try client.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try client.response()
        #expect(response.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(!response.contains("Connection: close"))
        #expect(client.channel.isActive)
        // The next request on the same connection is parsed afresh.
        try client.send("GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        #expect(try client.response().hasPrefix("HTTP/1.1 404"))
        #expect(!client.channel.isActive)
    }

    @Test func pipelinedRequestsAreEachAnswered() throws {
        let client = try EmbeddedClient()
        try client.send("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try client.response()
        #expect(response.components(separatedBy: "HTTP/1.1 404").count == 4)
    }

    @Test func slowHeadersGet408() throws {
        let client = try EmbeddedClient()
        try client.send("GET /api/x HTTP/1.1\r\nHost: a\r\n")
        let handler = try client.channel.pipeline.syncOperations.handler(type: ClientConnection.self)
        #expect(handler.lifecycle.phase == .readingHead)
        // The loop's sweep calls this every 250 ms with the monotonic clock; here the test is the clock.
        handler.checkDeadline(now: .max)
        #expect(try client.response().hasPrefix("HTTP/1.1 408 Request Timeout"))
        #expect(!client.channel.isActive)
    }

    @Test func idleConnectionsCloseSilently() throws {
        let client = try EmbeddedClient()
        let handler = try client.channel.pipeline.syncOperations.handler(type: ClientConnection.self)
        #expect(handler.lifecycle.phase == .idle)
        handler.checkDeadline(now: .max)
        #expect(try client.response().isEmpty)
        #expect(!client.channel.isActive)
    }

    @Test func aRefusedRequestNeverLeavesPartOfItselfBehind() throws {
        // After a 400 the connection is closed: the smuggled second request is never parsed.
        let client = try EmbeddedClient()
        try client.send("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /other HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try client.response()
        #expect(response.components(separatedBy: "HTTP/1.1").count == 2)
        #expect(!response.contains("404"))
    }
}
