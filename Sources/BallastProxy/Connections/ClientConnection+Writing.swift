import CoreMetrics
import Foundation
import NIOCore
import NIOSSL

extension ClientConnection {
    private static let crlf: StaticString = "\r\n"

    /// The request head as the server gets it: unchanged lines copied in contiguous runs,
    /// hop-by-hop and untrusted forwarding headers dropped, ours appended.
    func renderRequestHead(_ exchange: Exchange, allocator: ByteBufferAllocator) -> ByteBuffer {
        renderRequestHead(exchange.head, exchange: exchange, allocator: allocator)
    }

    /// `head` is borrowed: copying it would retain its buffer and fields for nothing.
    private func renderRequestHead(_ head: borrowing RequestHead, exchange: Exchange, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: head.bytes.readableBytes + 160)
        var forwardedFor: String?
        var forwardedProto: String?
        var requestID: String?
        let upgrade = exchange.state.upgrade
        head.bytes.withUnsafeReadableBytes { raw in
            // The client's trace, when it sent exactly one valid traceparent (its tracestate
            // goes along only then).
            var clientTrace: TraceContext?
            var traceparents = 0
            for field in head.fields where field.kind == .traceparent {
                traceparents += 1
                clientTrace = TraceContext.parse(UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]))
            }
            if traceparents > 1 { clientTrace = nil }
            if exchange.trace == nil {
                if let clientTrace {
                    exchange.trace = clientTrace
                } else {
                    // A trace started here is sampled as `tracing.sample_percent` says (never without tracing).
                    let sampled = loop.runtime.tracing.map { loop.rng.next() < $0.sampleThreshold } ?? false
                    exchange.trace = TraceContext(traceHigh: loop.rng.next(), traceLow: loop.rng.next() | 1, flags: sampled ? 1 : 0)
                }
            }
            let keepTraceState = clientTrace != nil
            var runStart = 0
            var runEnd = head.requestLineEnd
            for field in head.fields {
                // An upgrade the route allows keeps its `Upgrade` (and says `Connection: upgrade` below).
                var drop = (field.kind.isHopByHop || field.droppedByConnection) && !(upgrade && field.kind == .upgrade)
                switch field.kind {
                case .xForwardedFor:
                    if peerTrusted {
                        let value = String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]), as: UTF8.self)
                        forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
                    }
                    drop = true
                case .forwarded, .xRealIP:
                    // Another way to name the client: a client must not choose its own address.
                    drop = !peerTrusted
                case .xClientCertSubject:
                    // Only the listener that verified a certificate says whose it is.
                    drop = true
                case .traceparent:
                    drop = true
                case .tracestate:
                    drop = !keepTraceState
                case .xForwardedProto, .xRequestID, .xForwardedHost:
                    if peerTrusted {
                        let value = String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]), as: UTF8.self)
                        if field.kind == .xForwardedProto { forwardedProto = value }
                        if field.kind == .xRequestID { requestID = value }
                        drop = field.kind != .xForwardedHost
                    } else {
                        drop = true
                    }
                default:
                    break
                }
                if drop {
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<runEnd]))
                    runStart = field.lineEnd
                }
                runEnd = field.lineEnd
            }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<runEnd]))
        }
        if !peerTrusted {
            out.writeImmutableBuffer(forwardedPrefix)
            writeRandomID(into: &out, exchange: exchange)
            out.writeStaticString(Self.crlf)
        } else {
            exchange.requestIDText = requestID
            writeTrustedForwarding(into: &out, forwardedFor: forwardedFor, forwardedProto: forwardedProto, requestID: requestID, exchange: exchange)
        }
        if listener.requiresClientCertificate { writeClientSubject(into: &out) }
        // A new span per hop (and per attempt), in the client's trace or a new one.
        exchange.trace?.write(span: loop.rng.next(), into: &out)
        if head.version == .http10 {
            // HTTP/1.0 clients get a connection of their own upstream, closed after the response.
            out.writeStaticString("Connection: close\r\n")
            exchange.upstream?.poison()
        } else if upgrade {
            out.writeStaticString("Connection: upgrade\r\n")
        }
        out.writeStaticString(Self.crlf)
        return out
    }

    /// `X-Client-Cert-Subject: DN` of the certificate the TLS handshake verified (looked up
    /// once per connection; an HTTP/2 stream asks its connection).
    private func writeClientSubject(into out: inout ByteBuffer) {
        if clientSubject == nil, let context {
            let channel = context.channel.parent ?? context.channel
            let certificate = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
            clientSubject = certificate.flatMap { try? LeafFacts($0).distinguishedName } ?? ""
        }
        guard let clientSubject, !clientSubject.isEmpty else { return }
        out.writeStaticString("X-Client-Cert-Subject: ")
        out.writeString(clientSubject)
        out.writeStaticString(Self.crlf)
    }

    private func writeTrustedForwarding(into out: inout ByteBuffer, forwardedFor: String?, forwardedProto: String?, requestID: String?,
                                        exchange: Exchange) {
        out.writeStaticString("X-Forwarded-For: ")
        if let forwardedFor {
            out.writeString(forwardedFor)
            out.writeStaticString(", ")
        }
        out.writeString(peerIP)
        out.writeStaticString("\r\nX-Forwarded-Proto: ")
        out.writeString(forwardedProto ?? scheme)
        out.writeStaticString("\r\nX-Request-Id: ")
        if let requestID {
            out.writeString(requestID)
        } else {
            writeRandomID(into: &out, exchange: exchange)
        }
        out.writeStaticString(Self.crlf)
    }

    private func writeRandomID(into out: inout ByteBuffer, exchange: Exchange?) {
        // One id per request: a retry carries the id of its first attempt.
        let (a, b): (UInt64, UInt64)
        if let exchange {
            if exchange.requestID == (0, 0) { exchange.requestID = (loop.rng.next(), loop.rng.next()) }
            (a, b) = exchange.requestID
        } else {
            (a, b) = (loop.rng.next(), loop.rng.next())
        }
        out.writeHexWord(a)
        out.writeHexWord(b)
    }

    /// The response head rewritten for the client: hop-by-hop fields dropped, `Connection:
    /// close` added when this exchange ends the connection. (A head with nothing to change is
    /// not rendered at all: the server connection forwards its bytes as received.) A 101 that
    /// starts a tunnel (`switching`) keeps its `Upgrade` and says `Connection: upgrade` again.
    func renderResponseHead(_ head: ResponseHead, close: Bool, keepAlive: Bool = false, switching: Bool = false,
                            requestID: Exchange? = nil, allocator: ByteBufferAllocator) -> ByteBuffer {
        var out = allocator.buffer(capacity: head.bytes.readableBytes + 72)
        head.bytes.withUnsafeReadableBytes { raw in
            var runStart = 0
            var runEnd = head.statusLineEnd
            for field in head.fields {
                let drop = (field.kind.isHopByHop && !(switching && field.kind == .upgrade))
                    || (field.kind == .contentLength && (head.framing == .chunked || switching))
                    || (field.kind == .xRequestID && requestID != nil)
                if drop {
                    out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<runEnd]))
                    runStart = field.lineEnd
                }
                runEnd = field.lineEnd
            }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<runEnd]))
        }
        if let requestID { writeRequestIDLine(requestID, into: &out) }
        if switching {
            out.writeStaticString("Connection: upgrade\r\n")
        } else if close {
            out.writeStaticString("Connection: close\r\n")
        } else if keepAlive {
            out.writeStaticString("Connection: keep-alive\r\n")
        }
        out.writeStaticString(Self.crlf)
        return out
    }

    /// `X-Request-Id: ID` and CRLF: the id the server got (one is made for a request that
    /// never reached one), so a client can quote it and an operator find its log line.
    func writeRequestIDLine(_ exchange: Exchange?, into out: inout ByteBuffer) {
        out.writeStaticString("X-Request-Id: ")
        if let text = exchange?.requestIDText {
            out.writeString(text)
        } else {
            writeRandomID(into: &out, exchange: exchange)
        }
        out.writeStaticString(Self.crlf)
    }

    /// A response from the proxy itself: a JSON body saying what and why.
    private func localResponse(status: Int, error: String, message: String, close: Bool, retryAfter: Int?,
                               exchange: Exchange?, allocator: ByteBufferAllocator) -> ByteBuffer {
        let body = #"{"error":"\#(error)","message":"\#(jsonEscaped(message))"}"#
        var out = allocator.buffer(capacity: 200 + body.utf8.count)
        out.writeString("HTTP/1.1 \(status) \(reasonPhrase(status))\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n")
        writeRequestIDLine(exchange, into: &out)
        if let retryAfter { out.writeString("Retry-After: \(retryAfter)\r\n") }
        if close {
            out.writeStaticString("Connection: close\r\n")
        } else if answersHTTP10 {
            out.writeStaticString("Connection: keep-alive\r\n")
        }
        out.writeStaticString(Self.crlf)
        out.writeString(body)
        return out
    }

    /// Answers a request `RequestAdmission` refused.
    func refuse(_ refusal: RequestAdmission.Refusal) {
        respondLocally(status: refusal.status, error: refusal.error, message: refusal.message, close: refusal.close,
                       retryAfter: refusal.retryAfter)
    }

    /// Answers the client from the proxy itself (errors, limits), ending any exchange in flight.
    func respondLocally(status: Int, error: String, message: String, close: Bool, retryAfter: Int? = nil) {
        guard let context, !closing else { return }
        var shouldClose = close || draining
        // Bytes of this request may still be on their way: a body not read to its end, or the
        // rest of a request whose head was refused.
        let unread = !inputClosed && (exchange.map { !$0.state.requestComplete } ?? close)
        let out: ByteBuffer
        if let exchange {
            switch exchange.state.answerLocally(close: shouldClose) {
            case .cut:
                // Too late for a clean answer.
                finishExchange(exchange, code: exchange.state.status)
                closeNow()
                return
            case .respond(let close):
                release(exchange, close: true)
                shouldClose = close
                out = localResponse(status: status, error: error, message: message, close: shouldClose, retryAfter: retryAfter,
                                    exchange: exchange, allocator: context.channel.allocator)
                exchange.bytesOut &+= out.readableBytes
                finishExchange(exchange, code: status)
            }
        } else {
            loop.requestCounter(listener: listenerName, route: nil, code: status).increment()
            out = localResponse(status: status, error: error, message: message, close: shouldClose, retryAfter: retryAfter,
                                exchange: nil, allocator: context.channel.allocator)
            if let accessLog = listener.accessLog { writeAccessLog(accessLog, refused: status, bytesOut: out.readableBytes) }
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if shouldClose {
            if unread { lingerThenClose() } else { closeNow() }
        } else {
            enter(.idle)
            if !inputProcessingActive { processInput() }
            resumeReadingIfWanted()
        }
    }
}

package func jsonEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out
}

func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 400: "Bad Request"
    case 404: "Not Found"
    case 408: "Request Timeout"
    case 413: "Content Too Large"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 499: "Client Closed Request"
    case 501: "Not Implemented"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 505: "HTTP Version Not Supported"
    default: "Error"
    }
}
