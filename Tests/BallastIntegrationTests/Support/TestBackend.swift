import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server on a real loopback socket, standing in for an upstream server.
///
/// `GET /` answers `{"server":NAME}`; `/slow` waits `slowForMilliseconds`; `/status/N` answers
/// N; `/headers` echoes the request headers; `POST /upload` answers the byte count and sum;
/// `/stream/N` answers N bytes chunked; `/healthz` answers `healthStatus`; `/shed` answers 503
/// with `Retry-After`; `/half/N` declares N bytes, sends N/2 and goes silent.
final class TestBackend: Sendable {
    let name: String
    let port: Int
    private let serverChannel: any Channel
    private let children: NIOLockedValueBox<[ObjectIdentifier: any Channel]>
    let requests = Atomic<Int>(0)
    let connections = Atomic<Int>(0)
    let healthStatus = Atomic<Int>(200)
    /// The next this many `/healthz` probes answer 503 whatever `healthStatus` says (a server
    /// that answers one probe late or badly).
    let failNextHealthChecks = Atomic<Int>(0)
    let slowForMilliseconds = Atomic<Int>(2000)
    /// When set, requests are read and never answered, as by a process stopped with SIGSTOP.
    let frozen = Atomic<Bool>(false)
    /// When 0 or more: a connection is closed this many milliseconds after each response unless
    /// another request began, without a `Connection: close` (a server whose keep-alive timeout
    /// is shorter than the balancer's, racing its next request).
    let closeKeptAliveAfterMilliseconds = Atomic<Int>(-1)
    /// Every request line seen, for tests that check what reached the server.
    let seen = NIOLockedValueBox<[String]>([])

    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    static func start(_ name: String, port: Int = 0) async throws -> TestBackend {
        let children = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let box = NIOLockedValueBox<TestBackend?>(nil)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let backend = box.withLockedValue { $0 }!
                    backend.connections.wrappingAdd(1, ordering: .relaxed)
                    children.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
                    channel.closeFuture.whenComplete { _ in children.withLockedValue { $0[ObjectIdentifier(channel)] = nil } }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(BackendHandler(backend: backend))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        let backend = TestBackend(name: name, port: channel.localAddress!.port!, channel: channel, children: children)
        box.withLockedValue { $0 = backend }
        return backend
    }

    private init(name: String, port: Int, channel: any Channel, children: NIOLockedValueBox<[ObjectIdentifier: any Channel]>) {
        self.name = name
        self.port = port
        self.serverChannel = channel
        self.children = children
    }

    var address: String { "127.0.0.1:\(port)" }
    var requestCount: Int { requests.load(ordering: .relaxed) }

    /// Like kill -9 for a server: the port stops accepting and every open connection is cut.
    func stop() async {
        try? await serverChannel.close()
        for child in children.withLockedValue({ Array($0.values) }) { try? await child.close() }
    }
}

private final class BackendHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let backend: TestBackend
    var head: HTTPRequestHead?
    var exchanges = 0
    var bodyBytes = 0
    var bodySum = 0
    /// The trailer fields of the last request (chunked bodies only).
    var trailers: [String] = []

    init(backend: TestBackend) { self.backend = backend }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            exchanges += 1
            bodyBytes = 0
            bodySum = 0
            trailers = []
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            buffer.withUnsafeReadableBytes { for b in $0 { bodySum = (bodySum + Int(b)) % 1_000_000_007 } }
        case .end(let fields):
            trailers = fields.map { $0.map { "\($0.name.lowercased()): \($0.value)" } } ?? []
            guard let head else { return }
            if head.uri != "/healthz" {
                backend.requests.wrappingAdd(1, ordering: .relaxed)
                backend.seen.withLockedValue { $0.append("\(head.method.rawValue) \(head.uri)") }
            }
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        if backend.frozen.load(ordering: .relaxed) { return }
        let uri = head.uri
        if uri == "/healthz" {
            let failing = backend.failNextHealthChecks.wrappingSubtract(1, ordering: .relaxed).oldValue > 0
            if !failing { backend.failNextHealthChecks.store(0, ordering: .relaxed) }
            send(context, status: failing ? 503 : backend.healthStatus.load(ordering: .relaxed), body: "ok")
        } else if uri == "/slow" {
            let delay = TimeAmount.milliseconds(Int64(backend.slowForMilliseconds.load(ordering: .relaxed)))
            let name = backend.name
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                self.send(context, status: 200, body: #"{"server":"\#(name)","slow":true}"#)
            }
        } else if uri.hasPrefix("/half/"), let size = Int(uri.dropFirst(6)) {
            // Declares `size` bytes, sends half of them and goes silent with the connection open.
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "Content-Length", value: String(size))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: UInt8(ascii: "h"), count: size / 2)))), promise: nil)
        } else if uri == "/shed" {
            // 503 with Retry-After: refusing for now on purpose, as auth does while its database is away.
            send(context, status: 503, body: #"{"server":"\#(backend.name)","error":"unavailable"}"#, retryAfter: true)
        } else if uri.hasPrefix("/status/"), let code = Int(uri.dropFirst(8)) {
            send(context, status: code, body: #"{"server":"\#(backend.name)"}"#)
        } else if uri == "/headers" {
            let text = head.headers.map { "\($0.name.lowercased()): \($0.value)" }.joined(separator: "\n")
            send(context, status: 200, body: text)
        } else if uri == "/trailers" {
            send(context, status: 200, body: "\(bodyBytes) bytes; trailers: \(trailers.isEmpty ? "none" : trailers.joined(separator: ", "))")
        } else if uri == "/upload" {
            send(context, status: 200, body: "\(bodyBytes) \(bodySum)")
        } else if uri.hasPrefix("/stream/"), let n = Int(uri.dropFirst(8)) {
            var responseHead = HTTPResponseHead(version: .http1_1, status: .ok)
            responseHead.headers.add(name: "Transfer-Encoding", value: "chunked")
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            // Byte i of the body is i mod 256; 16 KiB is a multiple of 256, so one chunk serves
            // every position (a byte-by-byte loop per chunk is seconds for megabytes in debug).
            var chunk = context.channel.allocator.buffer(capacity: 16_384)
            for k in 0..<16_384 { chunk.writeInteger(UInt8(truncatingIfNeeded: k)) }
            var left = n
            var sinceFlush = 0
            while left > 0 {
                let size = min(left, 16_384)
                left -= size
                context.write(wrapOutboundOut(.body(.byteBuffer(chunk.getSlice(at: 0, length: size)!))), promise: nil)
                sinceFlush += size
                if sinceFlush >= 1 << 20 {
                    sinceFlush = 0
                    context.flush()
                }
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            send(context, status: 200, body: #"{"server":"\#(backend.name)"}"#)
        }
    }

    private func send(_ context: ChannelHandlerContext, status: Int, body: String, retryAfter: Bool = false) {
        var head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status))
        head.headers.add(name: "Content-Type", value: "application/json")
        if retryAfter { head.headers.add(name: "Retry-After", value: "1") }
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let closeAfter = backend.closeKeptAliveAfterMilliseconds.load(ordering: .relaxed)
        if closeAfter >= 0 {
            let exchange = exchanges
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(closeAfter))) {
                if self.exchanges == exchange { context.close(promise: nil) }
            }
        }
    }
}
