import NIOCore
import NIOHTTP1

/// One HTTP/2 stream as one HTTP/1.1 exchange of `ClientConnection`, so that a stream takes the
/// same routing, balancing, retries, limits, rate limits, canary, metrics and access log as a
/// request over HTTP/1.1, and goes to the same HTTP/1.1 upstream pools.
///
/// ```
/// HTTP2FramePayloadToHTTP1ServerCodec ⇄ HTTP2StreamBridge ⇄ ClientConnection
///   request parts ──► HTTP/1.1 request bytes (a body without a length is sent chunked)
///   response parts ◄── HTTP/1.1 response bytes (de-chunked, hop-by-hop fields dropped)
/// ```
/// RFC 9113 §8.2 (connection-specific fields, upper-case names, pseudo-headers, content-length
/// against DATA) is checked by swift-nio-http2 before a stream gets here, each a stream error.
final class HTTP2StreamBridge: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = HTTPServerResponsePart

    /// The head, held until the first body part or the end says whether a body follows.
    private var heldHead: HTTPRequestHead?
    private var chunkedRequest = false
    /// Where the HTTP/1.1 response `ClientConnection` writes begins and ends.
    private var response = ResponseFraming()
    /// Set for a chunked response: its payload, without the chunk framing HTTP/2 has no use for.
    private var dechunker: Dechunker?
    private var responseStarted = false
    private var responseEnded = false

    // MARK: Request

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            heldHead = head
            response.expectResponse(toHead: head.method == .HEAD)
        case .body(let body):
            if let head = heldHead {
                heldHead = nil
                chunkedRequest = !head.headers.contains(name: "content-length")
                emit(head, context: context, chunked: chunkedRequest)
            }
            guard body.readableBytes > 0 else { return }
            if chunkedRequest {
                var framed = context.channel.allocator.buffer(capacity: 16)
                framed.writeString(String(body.readableBytes, radix: 16) + "\r\n")
                context.fireChannelRead(wrapInboundOut(framed))
                context.fireChannelRead(wrapInboundOut(body))
                context.fireChannelRead(wrapInboundOut(ByteBuffer(string: "\r\n")))
            } else {
                context.fireChannelRead(wrapInboundOut(body))
            }
        case .end:
            if let head = heldHead {
                heldHead = nil
                emit(head, context: context, chunked: false)
            } else if chunkedRequest {
                context.fireChannelRead(wrapInboundOut(ByteBuffer(string: "0\r\n\r\n")))
            }
            context.fireChannelReadComplete()
        }
    }

    /// The request head as HTTP/1.1 bytes (`Host` is the stream's `:authority`, set by the codec).
    private func emit(_ head: HTTPRequestHead, context: ChannelHandlerContext, chunked: Bool) {
        var out = context.channel.allocator.buffer(capacity: 512)
        out.writeString("\(head.method.rawValue) \(head.uri) HTTP/1.1\r\n")
        var cookies: [String] = []
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if lower == "cookie" {
                // HTTP/2 may split the cookie header (RFC 9113 §8.2.3): one line again.
                cookies.append(value)
                continue
            }
            if lower == "transfer-encoding" || lower == "connection" { continue }
            out.writeString("\(name): \(value)\r\n")
        }
        if !cookies.isEmpty { out.writeString("cookie: \(cookies.joined(separator: "; "))\r\n") }
        if chunked { out.writeStaticString("transfer-encoding: chunked\r\n") }
        out.writeStaticString("\r\n")
        context.fireChannelRead(wrapInboundOut(out))
    }

    // MARK: Response

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        guard bytes.readableBytes > 0, !responseEnded else {
            promise?.succeed()
            return
        }
        var parts: [HTTPServerResponsePart] = []
        reading: while true {
            switch response.next(&bytes) {
            case .needMore:
                break reading
            case .interim(let head):
                // 100 Continue and friends are not passed on.
                response.recycle(head.fields)
            case .head(let head, _):
                parts.append(.head(Self.http2Head(head)))
                dechunker = head.framing == .chunked ? Dechunker() : nil
                responseStarted = true
                response.recycle(head.fields)
            case .body(let slice):
                if var chunks = dechunker {
                    for payload in chunks.payload(of: slice) { parts.append(.body(.byteBuffer(payload))) }
                    dechunker = chunks
                } else {
                    parts.append(.body(.byteBuffer(slice)))
                }
            case .end:
                parts.append(.end(nil))
                responseEnded = true
                break reading
            case .failed(let why):
                promise?.fail(HTTPHeadError.badRequest(why))
                context.close(promise: nil)
                return
            }
        }
        guard let last = parts.popLast() else {
            promise?.succeed()
            return
        }
        for part in parts { context.write(wrapOutboundOut(part), promise: nil) }
        context.write(wrapOutboundOut(last), promise: promise)
    }

    /// A response framed by the close of its connection ends its stream cleanly instead.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if responseStarted, !responseEnded {
            responseEnded = true
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(mode: mode, promise: promise)
    }

    /// The response head for HTTP/2: its fields without the hop-by-hop ones (RFC 9113 §8.2.2).
    static func http2Head(_ head: ResponseHead) -> HTTPResponseHead {
        var headers = HTTPHeaders()
        let base = head.bytes.readerIndex
        for field in head.fields where !field.kind.isHopByHop && field.kind != .transferEncoding {
            guard let name = head.bytes.getString(at: base + field.lineStart, length: field.nameEnd - field.lineStart),
                  let value = head.bytes.getString(at: base + field.valueStart, length: field.valueEnd - field.valueStart)
            else { continue }
            if field.kind == .contentLength, head.framing == .chunked { continue }
            headers.add(name: name, value: value)
        }
        return HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: head.status), headers: headers)
    }
}
