import NIOCore

/// A parsed response head from a server, with what the proxy needs to frame and forward it.
struct ResponseHead {
    var bytes: ByteBuffer
    var fields: [HeaderField] = []
    var status = 0
    var statusLineEnd = 0
    var version: HTTPVersion = .http11
    var framing: BodyFraming = .none
    /// The server will close (or spoke HTTP/1.0): the connection is not reused.
    var serverCloses = false
    /// Hop-by-hop headers other than a plain `Connection: keep-alive`, so the head must be rewritten.
    var needsRewrite = false
    /// A 503 with `Retry-After`: the server is refusing for now on purpose (overloaded, or a
    /// dependency it shares with its peers is away), not failing. It does not count towards
    /// outlier ejection, and another server of the upstream is not asked instead.
    var shedsLoad = false

    var isInterim: Bool { status >= 100 && status < 200 && status != 101 }
}

enum ResponseHeadParser {
    /// Takes a whole response head off the front of `buffer`, or nil when more bytes are needed.
    /// Errors mean the server spoke broken HTTP: the exchange fails with 502.
    /// `spare` lends its storage to the head's fields, as for requests.
    static func parse(_ buffer: inout ByteBuffer, requestMethodIsHead: Bool, maxHeadBytes: Int,
                      reusing spare: inout [HeaderField]) throws(HTTPHeadError) -> ResponseHead? {
        let end: Int? = try buffer.withUnsafeReadableBytes { raw throws(HTTPHeadError) in
            try HeadScanner.findHeadEnd(raw)
        }
        guard let end else {
            if buffer.readableBytes > maxHeadBytes { throw .headersTooLarge }
            return nil
        }
        var head = ResponseHead(bytes: buffer.readSlice(length: end)!, fields: spare)
        spare = []
        head.fields.removeAll(keepingCapacity: true)
        try head.bytes.withUnsafeReadableBytes { raw throws(HTTPHeadError) in
            // "HTTP/1.1 200 " at least.
            guard raw.count >= 14, HeadScanner.equalsLowercase(raw, 0, 7, "http/1.") else {
                throw .badRequest("malformed status line")
            }
            switch raw[7] {
            case UInt8(ascii: "1"): head.version = .http11
            case UInt8(ascii: "0"): head.version = .http10
            default: throw .badRequest("unsupported response version")
            }
            guard raw[8] == HeadScanner.sp,
                  let status = HeadScanner.contentLength(raw, 9, 12), (100...599).contains(status)
            else { throw .badRequest("malformed status code") }
            head.status = status
            var i = 12
            while i < raw.count, raw[i] != HeadScanner.cr {
                guard HeadScanner.isValueByte(raw[i]) else { throw .badRequest("control byte in the reason phrase") }
                i += 1
            }
            guard i + 1 < raw.count, raw[i + 1] == HeadScanner.lf else { throw .badRequest("malformed status line") }
            head.statusLineEnd = i + 2
            try HeadScanner.parseFields(raw, from: head.statusLineEnd, end: end, into: &head.fields)
            try interpret(raw, &head, requestMethodIsHead: requestMethodIsHead)
        }
        return head
    }

    private static func interpret(_ raw: UnsafeRawBufferPointer, _ head: inout ResponseHead, requestMethodIsHead: Bool) throws(HTTPHeadError) {
        var contentLength: Int?
        var transferCodings: [String]?
        var keepAliveRequested = false
        for field in head.fields {
            switch field.kind {
            case .contentLength:
                guard let value = HeadScanner.contentLength(raw, field.valueStart, field.valueEnd) else {
                    throw .badRequest("invalid Content-Length from server")
                }
                if let contentLength, contentLength != value { throw .badRequest("conflicting Content-Length from server") }
                contentLength = value
            case .transferEncoding:
                transferCodings = (transferCodings ?? []) + HeadScanner.tokens(raw, field.valueStart, field.valueEnd)
            case .connection:
                let tokens = HeadScanner.connectionTokens(raw, field.valueStart, field.valueEnd)
                if tokens.contains("close") { head.serverCloses = true }
                if tokens.contains("keep-alive") { keepAliveRequested = true }
                if tokens != ["keep-alive"] { head.needsRewrite = true }
            case .keepAlive, .proxyConnection, .upgrade, .te:
                head.needsRewrite = true
            default:
                break
            }
        }
        if head.version == .http10, !keepAliveRequested { head.serverCloses = true }
        if head.status == 503 {
            head.shedsLoad = head.fields.contains { HeadScanner.equalsLowercase(raw, $0.lineStart, $0.nameEnd, "retry-after") }
        }
        let bodiless = requestMethodIsHead || head.status < 200 || head.status == 204 || head.status == 304
        if bodiless {
            head.framing = .none
        } else if let codings = transferCodings {
            // RFC 9112 §6.3: Transfer-Encoding wins; a non-chunked final coding reads until close.
            head.framing = codings.last == "chunked" ? .chunked : .untilClose
            if contentLength != nil { head.needsRewrite = true }
        } else if let contentLength {
            head.framing = .contentLength(contentLength)
        } else {
            head.framing = .untilClose
        }
        if head.framing == .untilClose { head.serverCloses = true }
    }
}
