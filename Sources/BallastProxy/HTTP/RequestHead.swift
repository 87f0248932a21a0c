import BallastConfig
import NIOCore

/// A parsed request head: offsets into its bytes plus what routing and framing need.
///
/// The bytes stay in the `ByteBuffer` they arrived in; the parser only records where things
/// are, so unchanged header lines can be forwarded as received.
/// The methods the proxy treats specially, recognised from the bytes once per request.
enum MethodKind: UInt8, Sendable {
    case get, head, post, put, delete, options, trace, patch, other

    init(_ raw: UnsafeRawBufferPointer, length: Int) {
        func equals(_ name: StaticString) -> Bool {
            guard name.utf8CodeUnitCount == length else { return false }
            for i in 0..<length where raw[i] != name.utf8Start[i] { return false }
            return true
        }
        switch length {
        case 3: self = equals("GET") ? .get : equals("PUT") ? .put : .other
        case 4: self = equals("HEAD") ? .head : equals("POST") ? .post : .other
        case 5: self = equals("TRACE") ? .trace : equals("PATCH") ? .patch : .other
        case 6: self = equals("DELETE") ? .delete : .other
        case 7: self = equals("OPTIONS") ? .options : .other
        default: self = .other
        }
    }

    /// GET, HEAD, OPTIONS, TRACE, PUT and DELETE may be repeated safely (RFC 9110 §9.2.2).
    var isIdempotent: Bool {
        switch self {
        case .get, .head, .options, .trace, .put, .delete: true
        case .post, .patch, .other: false
        }
    }
}

struct RequestHead {
    var bytes: ByteBuffer
    var fields: [HeaderField]
    var methodKind: MethodKind = .other
    var methodEnd = 0
    var targetStart = 0
    var targetEnd = 0
    var requestLineEnd = 0
    var version: HTTPVersion = .http11
    var framing: BodyFraming = .none
    var hostStart = 0
    var hostEnd = 0
    /// The client asked to close after this exchange (or spoke HTTP/1.0 without keep-alive).
    var wantsClose = false
    /// The protocol an HTTP/1.1 request asks to switch to (`Upgrade` named by `Connection`),
    /// lower-case and without its version: "websocket".
    var upgrade: String?

    var method: String { string(0, methodEnd) }
    var target: String { string(targetStart, targetEnd) }
    var host: String { string(hostStart, hostEnd) }
    /// The target's path, without the query.
    var path: String {
        let t = target
        if let q = t.firstIndex(of: "?") { return String(t[..<q]) }
        return t
    }

    func string(_ start: Int, _ end: Int) -> String {
        bytes.getString(at: bytes.readerIndex + start, length: end - start) ?? ""
    }

    func value(of field: HeaderField) -> String { string(field.valueStart, field.valueEnd) }

    func firstValue(_ kind: KnownHeader) -> String? {
        fields.first { $0.kind == kind }.map(value(of:))
    }

    /// The value of a header by name (lower-case), for hash keys.
    func value(named lowercasedName: String) -> String? {
        bytes.withUnsafeReadableBytes { raw in
            for field in fields where HeadScanner.equalsLowercase(raw, field.lineStart, field.nameEnd, lowercasedName) {
                return String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]), as: UTF8.self)
            }
            return nil
        }
    }

    var isIdempotent: Bool { methodKind.isIdempotent }

    /// The consistent-hash key of this request, or nil when it lacks the header or cookie.
    func hashKey(_ key: HashKey, peerIP: String) -> UInt64? {
        switch key {
        case .clientIP:
            return fnv1a(peerIP.utf8)
        case .header(let name):
            return value(named: name).map { fnv1a($0.utf8) }
        case .cookie(let name):
            guard let cookies = firstValue(.cookie) else { return nil }
            for pair in cookies.split(separator: ";") {
                let trimmed = pair.drop { $0 == " " }
                if trimmed.hasPrefix(name + "=") { return fnv1a(trimmed.dropFirst(name.count + 1).utf8) }
            }
            return nil
        }
    }

    var hasBody: Bool {
        switch framing {
        case .none, .contentLength(0): false
        default: true
        }
    }
}

/// Parses request heads, reusing one fields array across the requests of a connection.
struct RequestHeadParser {
    var maxHeadBytes: Int
    var maxBodyBytes: Int
    private var scanned = 0

    init(maxHeadBytes: Int, maxBodyBytes: Int) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
    }

    /// Takes a whole head off the front of `buffer`, or returns nil when more bytes are needed.
    /// `fields` is a spare array whose storage the head takes over; hand it back when done.
    mutating func parse(_ buffer: inout ByteBuffer, reusing fields: inout [HeaderField]) throws(HTTPHeadError) -> RequestHead? {
        // RFC 9112 §2.2: ignore empty lines before a request line.
        while buffer.readableBytes >= 2,
              buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
            buffer.moveReaderIndex(forwardBy: 2)
        }
        let searchFrom = max(0, scanned - 3)
        // Only the bytes a head may fill are scanned: a flaw beyond the limit must not turn a 431
        // into a 400 when the bytes happen to arrive in one read (found by fuzzing).
        let limit = maxHeadBytes
        let end: Int? = try buffer.withUnsafeReadableBytes { raw throws(HTTPHeadError) in
            try HeadScanner.findHeadEnd(UnsafeRawBufferPointer(rebasing: raw.prefix(limit)), from: searchFrom)
        }
        guard let end else {
            if buffer.readableBytes > maxHeadBytes { throw .headersTooLarge }
            scanned = buffer.readableBytes
            return nil
        }
        scanned = 0   // `end` is within the limit: only that much was scanned
        // Move the spare array in (no copy: it is uniquely referenced once `fields` is emptied).
        var head = RequestHead(bytes: buffer.readSlice(length: end)!, fields: fields)
        fields = []
        head.fields.removeAll(keepingCapacity: true)
        try head.bytes.withUnsafeReadableBytes { raw throws(HTTPHeadError) in
            try Self.parseRequestLine(raw, into: &head)
            try HeadScanner.parseFields(raw, from: head.requestLineEnd, end: end, into: &head.fields)
            try Self.interpret(raw, &head, maxBodyBytes: maxBodyBytes)
        }
        return head
    }

    private static func parseRequestLine(_ raw: UnsafeRawBufferPointer, into head: inout RequestHead) throws(HTTPHeadError) {
        var i = 0
        while i < raw.count, HeadScanner.isTchar(raw[i]) { i += 1 }
        guard i > 0, i < raw.count, raw[i] == HeadScanner.sp else { throw .badRequest("malformed request line") }
        head.methodEnd = i
        head.methodKind = MethodKind(raw, length: i)
        i += 1
        head.targetStart = i
        while i < raw.count, raw[i] > 32, raw[i] < 127 { i += 1 }
        head.targetEnd = i
        guard head.targetEnd > head.targetStart, i < raw.count, raw[i] == HeadScanner.sp else {
            throw .badRequest("malformed request target")
        }
        i += 1
        let versionStart = i
        while i < raw.count, raw[i] != HeadScanner.cr { i += 1 }
        guard i + 1 < raw.count, raw[i + 1] == HeadScanner.lf else { throw .badRequest("malformed request line") }
        let version = String(decoding: UnsafeRawBufferPointer(rebasing: raw[versionStart..<i]), as: UTF8.self)
        switch version {
        case "HTTP/1.1": head.version = .http11
        case "HTTP/1.0": head.version = .http10
        default:
            let looksLikeHTTP = version.hasPrefix("HTTP/") && version.count == 8
            throw looksLikeHTTP ? .versionNotSupported : .badRequest("malformed HTTP version")
        }
        head.requestLineEnd = i + 2
        // Only origin-form (and `*` for OPTIONS) is routed; a reverse proxy has no use for the rest.
        let first = raw[head.targetStart]
        let isAsterisk = head.targetEnd - head.targetStart == 1 && first == UInt8(ascii: "*")
        guard first == UInt8(ascii: "/") || (isAsterisk && head.methodKind == .options) else {
            throw .badRequest("request target must be a path starting with '/'")
        }
    }

    /// Derives framing and connection handling, refusing every ambiguous combination.
    private static func interpret(_ raw: UnsafeRawBufferPointer, _ head: inout RequestHead, maxBodyBytes: Int) throws(HTTPHeadError) {
        var contentLength: Int?
        var chunked = false
        var sawTransferEncoding = false
        var hosts = 0
        var closeRequested = head.version == .http10
        var connectionTokens: [String] = []
        var upgradeField: HeaderField?
        for field in head.fields {
            switch field.kind {
            case .contentLength:
                guard let value = HeadScanner.contentLength(raw, field.valueStart, field.valueEnd) else {
                    throw .badRequest("invalid Content-Length")
                }
                if contentLength != nil { throw .badRequest("more than one Content-Length") }
                contentLength = value
            case .transferEncoding:
                if sawTransferEncoding { throw .badRequest("more than one Transfer-Encoding") }
                sawTransferEncoding = true
                let codings = HeadScanner.tokens(raw, field.valueStart, field.valueEnd)
                guard codings == ["chunked"] else {
                    if codings.last == "chunked" || codings.isEmpty { throw .badRequest("unsupported Transfer-Encoding") }
                    throw .notImplemented("only chunked Transfer-Encoding is supported")
                }
                chunked = true
            case .host:
                hosts += 1
                head.hostStart = field.valueStart
                head.hostEnd = field.valueEnd
            case .connection:
                let tokens = HeadScanner.connectionTokens(raw, field.valueStart, field.valueEnd)
                if tokens.contains("close") { closeRequested = true }
                if head.version == .http10, tokens.contains("keep-alive") { closeRequested = false }
                connectionTokens.append(contentsOf: tokens)
            case .upgrade:
                // More than one Upgrade line is ambiguous: no upgrade at all.
                upgradeField = upgradeField == nil ? field : HeaderField(lineStart: 0, nameEnd: 0, valueStart: 0, valueEnd: 0, lineEnd: 0, kind: .other)
            default:
                break
            }
        }
        if sawTransferEncoding, contentLength != nil { throw .badRequest("both Content-Length and Transfer-Encoding") }
        if sawTransferEncoding, head.version == .http10 { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
        if head.version == .http11, hosts != 1 { throw .badRequest(hosts == 0 ? "missing Host header" : "more than one Host header") }
        if hosts > 1 { throw .badRequest("more than one Host header") }
        if let contentLength, contentLength > maxBodyBytes { throw .bodyTooLarge }
        head.framing = chunked ? .chunked : contentLength.map { .contentLength($0) } ?? .none
        head.wantsClose = closeRequested
        if head.version == .http11, !closeRequested, connectionTokens.contains("upgrade"), let field = upgradeField, field.kind == .upgrade {
            // The first protocol offered, as "websocket" in "websocket" or "WebSocket/13".
            head.upgrade = HeadScanner.tokens(raw, field.valueStart, field.valueEnd).first
                .map { String($0.prefix { $0 != "/" }) }
        }
        if !connectionTokens.isEmpty {
            for index in head.fields.indices {
                let field = head.fields[index]
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: raw[field.lineStart..<field.nameEnd]), as: UTF8.self)
                    .lowercased()
                if connectionTokens.contains(name), field.kind != .host, field.kind != .contentLength,
                   field.kind != .transferEncoding {
                    head.fields[index].droppedByConnection = true
                }
            }
        }
    }
}
