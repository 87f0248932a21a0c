import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

struct TestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: ByteBuffer
    var text: String { String(buffer: body) }
}

/// An HTTP/1.1 client on one kept-alive connection, for driving the proxy in tests.
struct TestConnection {
    fileprivate var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    fileprivate let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    mutating func request(_ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil) async throws -> TestResponse {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body, !head.headers.contains(name: "Transfer-Encoding") {
            head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        }
        try await outbound.write(.head(head))
        if let body { try await outbound.write(.body(.byteBuffer(body))) }
        try await outbound.write(.end(nil))
        var status = 0
        var responseHeaders = HTTPHeaders()
        var received = ByteBuffer()
        while let part = try await inbound.next() {
            switch part {
            case .head(let h):
                status = Int(h.status.code)
                responseHeaders = h.headers
            case .body(var b):
                received.writeBuffer(&b)
            case .end:
                return TestResponse(status: status, headers: responseHeaders, body: received)
            }
        }
        throw TestClientError.closed(status: status)
    }
}

enum TestClientError: Error { case closed(status: Int) }

/// Opens a connection to `port`, runs `body` with it, then closes it.
func withConnection<T: Sendable>(port: Int, _ body: (inout TestConnection) async throws -> T) async throws -> T {
    let channel = try await ClientBootstrap(group: TestBackend.group)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
    return try await channel.executeThenClose { inbound, outbound in
        var connection = TestConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
        return try await body(&connection)
    }
}

/// One request on a fresh connection.
func fetch(port: Int, _ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: ByteBuffer? = nil) async throws -> TestResponse {
    try await withConnection(port: port) { try await $0.request(method, path, headers: headers, body: body) }
}

/// Sends raw bytes and returns everything the proxy answers until it closes (or `timeout`).
func rawExchange(port: Int, _ bytes: String, timeout: TimeAmount = .seconds(3)) async throws -> String {
    let channel = try await ClientBootstrap(group: TestBackend.group)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
    let timer = channel.channel.eventLoop.scheduleTask(in: timeout) { channel.channel.close(promise: nil) }
    defer { timer.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
        // A server that answers and closes at once (a refusal) may close before this write
        // lands; what it answered is still there to read.
        try? await outbound.write(ByteBuffer(string: bytes))
        var text = ""
        do {
            for try await var buffer in inbound { text += buffer.readString(length: buffer.readableBytes) ?? "" }
        } catch {}
        return text
    }
}

/// Registers `count` users (`prefix0`, `prefix1`, ...) through the balancer on `port` and logs
/// each in once; returns their session tokens, in order.
func makeSessions(port: Int, prefix: String, count: Int) async throws -> [String] {
    let json = [("Content-Type", "application/json")]
    var tokens: [String] = []
    for i in 0..<count {
        let credentials = ByteBuffer(string: #"{"username":"\#(prefix)\#(i)","password":"correct horse battery"}"#)
        #expect(try await fetch(port: port, .POST, "/auth/register", headers: json, body: credentials).status == 201)
        let login = try await fetch(port: port, .POST, "/auth/login", headers: json, body: credentials)
        #expect(login.status == 200)
        tokens.append(try #require((try JSONSerialization.jsonObject(with: Data(login.text.utf8)) as? [String: Any])?["token"] as? String))
    }
    return tokens
}
