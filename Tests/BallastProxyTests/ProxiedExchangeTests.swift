import BallastConfig
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Testing
@testable import BallastProxy

/// A whole proxied exchange without sockets: the client connection and its server connections on
/// `EmbeddedChannel`s of one loop, joined by the pool's `connector`. The test plays client and
/// servers: it writes their bytes and reads what the balancer sent each of them.
final class EmbeddedProxy {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let context: LoopContext
    /// Every server connection opened, in order, with the server it went to.
    private(set) var opened: [(server: String, channel: EmbeddedChannel, connection: UpstreamConnection)] = []
    /// Servers whose connections fail to open (the connect times out).
    var refusing: Set<String> = []
    /// When set, a new connection waits here until the test completes it.
    var heldConnects: [(promise: EventLoopPromise<UpstreamConnection>, connection: UpstreamConnection, channel: EmbeddedChannel)]?

    init(_ yaml: String) throws {
        let config = try ConfigLoader.load(text: yaml, file: "t.yaml").get().config
        let runtime = try RuntimeCompiler(loopCount: 1).compile(config, version: 1)
        context = LoopContext(index: 0, eventLoop: loop, runtime: runtime)
        let handler = ClientConnection(loop: context, listener: runtime.listeners["public"]!, logger: Logger(label: "test"))
        client = EmbeddedChannel(handler: handler, loop: loop)
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        context.pool.connector = { [unowned self] server, _ in self.open(server) }
    }

    private func open(_ server: ServerTarget) -> EventLoopFuture<UpstreamConnection> {
        let name = server.address.description
        if refusing.contains(name) {
            return loop.makeFailedFuture(ChannelError.connectTimeout(.seconds(1)))
        }
        let connection = UpstreamConnection(server: server)
        let channel = EmbeddedChannel(handler: connection, loop: loop)
        _ = channel.connect(to: server.socketAddress)
        opened.append((name, channel, connection))
        if heldConnects != nil {
            let promise = loop.makePromise(of: UpstreamConnection.self)
            heldConnects!.append((promise, connection, channel))
            return promise.futureResult
        }
        return loop.assumeIsolated().makeSucceededFuture(connection)
    }

    func clientSends(_ text: String) throws {
        try client.writeInbound(ByteBuffer(string: text))
        loop.run()
    }

    /// What the client received since the last call.
    /// What the client got since the last call, without the `X-Request-Id` line every response
    /// carries (`clientReceivedAsIs` keeps it).
    func clientReceived() throws -> String {
        try clientReceivedAsIs().replacingOccurrences(of: #"X-Request-Id: [0-9a-f]{32}\r\n"#, with: "", options: .regularExpression)
    }

    func clientReceivedAsIs() throws -> String { try Self.drain(client) }

    /// What the balancer wrote to server connection `index` since the last call.
    func serverReceived(_ index: Int) throws -> String { try Self.drain(opened[index].channel) }

    func serverSends(_ index: Int, _ text: String) throws {
        try opened[index].channel.writeInbound(ByteBuffer(string: text))
        loop.run()
    }

    func serverCloses(_ index: Int) {
        opened[index].channel.pipeline.fireChannelInactive()
        loop.run()
    }

    private static func drain(_ channel: EmbeddedChannel) throws -> String {
        var out = ""
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            out += buffer.readString(length: buffer.readableBytes) ?? ""
        }
        return out
    }

    static func config(retries: String = "{ attempts: 1, on: [connect-failure, \"503\"] }", servers: String = "[127.0.0.1:9001, 127.0.0.1:9002]") -> String {
        """
        version: 1
        listeners:
          - name: public
            listen: 127.0.0.1:8080
            limits: { max_header_bytes: 8192, max_body_bytes: 8192 }
            routes:
              - { name: api, match: { path_prefix: /api/ }, upstream: app, retries: \(retries) }
        upstreams:
          - name: app
            balance: round_robin
            servers: \(servers)
        """
    }
}

@Suite struct ProxiedExchangeTests {
    @Test func aRequestReachesItsServerWithOurHeadersAndTheResponseComesBackAsReceived() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config(servers: "[127.0.0.1:9001]"))
        try proxy.clientSends("GET /api/x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive\r\n\r\n")
        #expect(proxy.opened.count == 1)
        let request = try proxy.serverReceived(0)
        #expect(request.hasPrefix("GET /api/x HTTP/1.1\r\nHost: a\r\n"))
        #expect(request.contains("X-Forwarded-For: ") && !request.contains("6.6.6.6"), "a client cannot name itself")
        #expect(!request.contains("Connection: keep-alive"), "hop-by-hop fields stay on their hop")
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        try proxy.serverSends(0, response)
        // As received, with the request id the server got added (once) before the blank line.
        let received = try proxy.clientReceivedAsIs()
        let id = try #require(request.split(separator: "\r\n").first { $0.hasPrefix("X-Request-Id: ") })
        #expect(received == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\(id)\r\n\r\nok", "\(received)")
        // The connection went back to the pool: the next request reuses it.
        try proxy.clientSends("GET /api/y HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(proxy.opened.count == 1)
        #expect(try proxy.serverReceived(0).hasPrefix("GET /api/y HTTP/1.1\r\n"))
    }

    @Test func aListed503IsRetriedOnTheOtherServerAndTheClientSeesOneResponse() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config())
        try proxy.clientSends("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        try proxy.serverSends(0, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        #expect(proxy.opened.count == 2 && proxy.opened[0].server != proxy.opened[1].server)
        #expect(try proxy.serverReceived(1).hasPrefix("GET /api/x HTTP/1.1\r\n"))
        #expect(try proxy.clientReceived().isEmpty, "nothing of the retried response reached the client")
        try proxy.serverSends(1, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        #expect(try proxy.clientReceived() == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    }

    @Test func aStatusTheRouteDoesNotRetryGoesOutAsItIs() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config(retries: "{ attempts: 1, on: [connect-failure] }"))
        try proxy.clientSends("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        try proxy.serverSends(0, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
        #expect(proxy.opened.count == 1)
        #expect(try proxy.clientReceived().hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
    }

    @Test func connectsThatTimeOutAreRetriedThenAnswered504() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config())
        proxy.refusing = ["127.0.0.1:9001", "127.0.0.1:9002"]
        try proxy.clientSends("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        let response = try proxy.clientReceived()
        #expect(response.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"), "connects that timed out: \(response)")
        #expect(response.contains(#""error":"upstream_unreachable""#))
        #expect(proxy.client.isActive, "a whole request answered locally keeps its connection")
    }

    @Test func aKeptAliveConnectionTheServerClosedGetsOneFreeRetryOnAFreshConnection() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config(retries: "{ attempts: 1, on: [connect-failure] }", servers: "[127.0.0.1:9001]"))
        try proxy.clientSends("GET /api/1 HTTP/1.1\r\nHost: a\r\n\r\n")
        try proxy.serverSends(0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        _ = try proxy.clientReceived()
        try proxy.clientSends("GET /api/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(proxy.opened.count == 1, "the kept-alive connection is reused")
        proxy.serverCloses(0)  // the server's keep-alive timeout raced the request
        #expect(proxy.opened.count == 2, "retried on a new connection")
        #expect(try proxy.serverReceived(1).hasPrefix("GET /api/2 "))
        proxy.serverCloses(1)  // a new connection closed too: that costs the one attempt
        #expect(proxy.opened.count == 3, "the free retry did not count against attempts")
        #expect(try proxy.clientReceived().isEmpty)
        proxy.serverCloses(2)
        #expect(proxy.opened.count == 3)
        let response = try proxy.clientReceived()
        #expect(response.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n") && response.contains(#""error":"bad_gateway""#), "\(response)")
    }

    @Test func aBodyThatArrivesBeforeTheConnectionFollowsItsHead() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config(servers: "[127.0.0.1:9001]"))
        proxy.heldConnects = []
        try proxy.clientSends("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
        try proxy.clientSends("world")
        let held = try #require(proxy.heldConnects?.first)
        held.promise.assumeIsolated().succeed(held.connection)
        proxy.loop.run()
        let request = try proxy.serverReceived(0)
        #expect(request.hasPrefix("POST /api/x HTTP/1.1\r\n") && request.hasSuffix("\r\n\r\nhelloworld"), "\(request)")
        try proxy.serverSends(0, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        #expect(try proxy.clientReceived().hasPrefix("HTTP/1.1 201 Created"))
    }

    @Test func anAnswerBeforeTheBodyEndedClosesTheClientAndIsNotReused() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config(servers: "[127.0.0.1:9001]"))
        try proxy.clientSends("POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
        try proxy.serverSends(0, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        let response = try proxy.clientReceived()
        #expect(response.hasPrefix("HTTP/1.1 403 Forbidden\r\n") && response.contains("Connection: close\r\n"), "\(response)")
        #expect(!proxy.client.isActive)
        #expect(!proxy.opened[0].connection.isUsable, "the server connection is out of step with the request: never pooled")
    }

    @Test func aServerThatFailsMidResponseCutsTheClient() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config())
        try proxy.clientSends("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        try proxy.serverSends(0, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel")
        #expect(try proxy.clientReceived() == "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel")
        proxy.serverCloses(0)
        #expect(proxy.opened.count == 1, "nothing is retried once response bytes reached the client")
        #expect(try proxy.clientReceived().isEmpty && !proxy.client.isActive, "the client sees a cut, not a second answer")
    }

    @Test func pipelinedClientRequestsAreAnsweredInOrderOneExchangeAtATime() throws {
        let proxy = try EmbeddedProxy(EmbeddedProxy.config(servers: "[127.0.0.1:9001]"))
        try proxy.clientSends("GET /api/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /api/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try proxy.serverReceived(0).components(separatedBy: "GET /api/").count == 2, "the second waits for the first's response")
        try proxy.serverSends(0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
        #expect(try proxy.serverReceived(0).hasPrefix("GET /api/2 "), "then goes on the connection given back")
        try proxy.serverSends(0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
        #expect(try proxy.clientReceived() == "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
    }
}
