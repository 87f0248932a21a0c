import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A server that parses requests itself, so a test sees how they arrived: how many came in one
/// read (pipelined) and in what order. Every response names its request (`METHOD PATH`), so a
/// response handed to the wrong client shows.
///
/// `/chunked/...` answers chunked; `/slow/...` answers after `slowMilliseconds`; HEAD answers a
/// Content-Length without a body. `misbehaviour` makes the server drop what follows the first
/// response of a read.
final class PipelineBackend: Sendable {
    enum Misbehaviour: Sendable {
        case none
        /// Answers the first request of a read, then closes without a word.
        case closeAfterFirst
        /// Answers the first request of a read with `Connection: close`, then closes.
        case connectionCloseAfterFirst
    }

    let port: Int
    private let channel: any Channel
    /// The requests of each read that held at least one complete request, as `METHOD PATH`.
    let reads = NIOLockedValueBox<[[String]]>([])
    let misbehaviour = NIOLockedValueBox<Misbehaviour>(.none)
    let slowMilliseconds = NIOLockedValueBox<Int64>(2000)

    static func start() async throws -> PipelineBackend {
        let box = NIOLockedValueBox<PipelineBackend?>(nil)
        let channel = try await ServerBootstrap(group: TestBackend.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PipelineBackendHandler(backend: box.withLockedValue { $0 }!))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let backend = PipelineBackend(port: channel.localAddress!.port!, channel: channel)
        box.withLockedValue { $0 = backend }
        return backend
    }

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    var address: String { "127.0.0.1:\(port)" }

    /// The most requests that arrived in one read.
    var mostPerRead: Int { reads.withLockedValue { $0.map(\.count).max() ?? 0 } }

    func stop() async { try? await channel.close() }
}

private final class PipelineBackendHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let backend: PipelineBackend
    private var input = ByteBuffer()

    init(backend: PipelineBackend) { self.backend = backend }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        input.writeBuffer(&bytes)
        var requests: [(method: String, path: String)] = []
        while let request = nextRequest() { requests.append(request) }
        guard !requests.isEmpty else { return }
        backend.reads.withLockedValue { $0.append(requests.map { "\($0.method) \($0.path)" }) }
        let misbehaviour = backend.misbehaviour.withLockedValue { $0 }
        if misbehaviour != .none, requests.count > 1 {
            context.writeAndFlush(NIOAny(render(requests[0], close: misbehaviour == .connectionCloseAfterFirst)), promise: nil)
            context.close(promise: nil)
            return
        }
        // Responses leave in request order: those behind a slow one wait with it.
        let responses = requests.map { render($0, close: false) }
        let slow = requests.firstIndex { $0.path.hasPrefix("/slow/") } ?? responses.count
        for response in responses[..<slow] { context.write(NIOAny(response), promise: nil) }
        context.flush()
        guard slow < responses.count else { return }
        let delay = backend.slowMilliseconds.withLockedValue { $0 }
        let later = Array(responses[slow...])
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(delay)) {
            for response in later { context.write(NIOAny(response), promise: nil) }
            context.flush()
        }
    }

    /// One whole request taken from `input` (head, and a Content-Length body), if there is one.
    private func nextRequest() -> (method: String, path: String)? {
        let view = input.readableBytesView
        guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count == 3 else { return nil }
        var bodyLength = 0
        for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
            bodyLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        let headLength = end.upperBound - view.startIndex
        guard input.readableBytes >= headLength + bodyLength else { return nil }
        input.moveReaderIndex(forwardBy: headLength + bodyLength)
        return (String(parts[0]), String(parts[1]))
    }

    private func render(_ request: (method: String, path: String), close: Bool) -> ByteBuffer {
        let body = "\(request.method) \(request.path)"
        let connection = close ? "Connection: close\r\n" : ""
        if request.path.hasPrefix("/chunked/") {
            let half = body.utf8.count / 2
            let first = String(body.prefix(half)), second = String(body.dropFirst(half))
            return ByteBuffer(string: "HTTP/1.1 200 OK\r\n\(connection)Transfer-Encoding: chunked\r\n\r\n"
                + "\(String(first.utf8.count, radix: 16))\r\n\(first)\r\n\(String(second.utf8.count, radix: 16))\r\n\(second)\r\n0\r\n\r\n")
        }
        let payload = request.method == "HEAD" ? "" : body
        return ByteBuffer(string: "HTTP/1.1 200 OK\r\n\(connection)Content-Length: \(body.utf8.count)\r\n\r\n\(payload)")
    }
}
