/// The byte-level rules of RFC 9110/9112 that both request and response heads follow.
///
/// Strict on purpose: every ambiguity a smuggling attack needs (bare CR or LF, obsolete line
/// folding, whitespace before the colon, control bytes in values) is refused, not repaired.
enum HeadScanner {
    static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 32, htab: UInt8 = 9, colon: UInt8 = 58

    /// RFC 9110 `tchar` (digits, letters and ``!#$%&'*+-.^_`|~``) as two 64-bit masks.
    ///
    /// Constants, not a lookup table: a global array costs a lazy-initialisation check and a
    /// retain/release on every access, which in these per-byte loops measured ~10% of the
    /// proxy's user time.
    @inline(__always)
    static func isTchar(_ b: UInt8) -> Bool {
        let low: UInt64 = 0x03FF_6CFA_0000_0000, high: UInt64 = 0x57FF_FFFF_C7FF_FFFE
        if b < 64 { return (low >> UInt64(b)) & 1 == 1 }
        if b < 128 { return (high >> UInt64(b - 64)) & 1 == 1 }
        return false
    }

    /// Bytes allowed in a field value: VCHAR, obs-text, SP and HTAB (no other control byte).
    @inline(__always)
    static func isValueByte(_ b: UInt8) -> Bool {
        b == 9 || (b >= 32 && b != 127)
    }

    /// Offset just past the `\r\n\r\n` that ends the head, or nil when it has not all arrived.
    /// Throws on a bare LF, which must never end a line here.
    static func findHeadEnd(_ bytes: UnsafeRawBufferPointer, from start: Int = 0) throws(HTTPHeadError) -> Int? {
        var i = start
        let count = bytes.count
        while i < count {
            let b = bytes[i]
            if b == lf {
                guard i > 0, bytes[i - 1] == cr else { throw .badRequest("bare LF in the head") }
                // An empty line (CRLF CRLF) ends the head.
                if i >= 3, bytes[i - 2] == lf, bytes[i - 3] == cr { return i + 1 }
                // A head may not start with an empty line once parsing began; handled by the caller.
            }
            i += 1
        }
        return nil
    }

    /// Header fields one head may have, as Apache's `LimitRequestFields` (100) and HAProxy's
    /// `tune.http.maxhdr` (101): browsers send about 20. Within the byte limit, thousands of
    /// tiny fields would otherwise cost every later lookup and the upstream's parser.
    static let maxFields = 100

    /// Parses header lines from `start` up to the empty line; `end` is just past the final CRLF.
    static func parseFields(
        _ bytes: UnsafeRawBufferPointer, from start: Int, end: Int, into fields: inout [HeaderField]
    ) throws(HTTPHeadError) {
        var i = start
        let last = end - 2  // the final CRLF
        while i < last {
            guard fields.count < maxFields else { throw .tooManyFields }
            let lineStart = i
            if bytes[i] == sp || bytes[i] == htab { throw .badRequest("obsolete line folding") }
            while i < last, isTchar(bytes[i]) { i += 1 }
            let nameEnd = i
            guard nameEnd > lineStart else { throw .badRequest("malformed header name") }
            guard i < last, bytes[i] == colon else {
                if i < last, bytes[i] == sp || bytes[i] == htab {
                    throw .badRequest("whitespace between header name and colon")
                }
                throw .badRequest("malformed header name")
            }
            i += 1
            while i < last, bytes[i] == sp || bytes[i] == htab { i += 1 }
            let valueStart = i
            while i < last, bytes[i] != cr {
                guard isValueByte(bytes[i]) else { throw .badRequest("control byte in a header value") }
                i += 1
            }
            guard i + 1 < end, bytes[i] == cr, bytes[i + 1] == lf else { throw .badRequest("bare CR in a header") }
            var valueEnd = i
            while valueEnd > valueStart, bytes[valueEnd - 1] == sp || bytes[valueEnd - 1] == htab { valueEnd -= 1 }
            i += 2
            let kind = classify(bytes, lineStart, nameEnd)
            fields.append(HeaderField(
                lineStart: lineStart, nameEnd: nameEnd, valueStart: valueStart, valueEnd: valueEnd,
                lineEnd: i, kind: kind))
        }
    }

    /// Names the header when it is one the proxy must understand (ASCII case-insensitive).
    static func classify(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> KnownHeader {
        let length = end - start
        @inline(__always) func equals(_ name: StaticString) -> Bool {
            guard name.utf8CodeUnitCount == length else { return false }
            let p = name.utf8Start
            for k in 0..<length where bytes[start + k] | 0x20 != p[k] { return false }
            return true
        }
        switch length {
        case 2: return equals("te") ? .te : .other
        case 4: return equals("host") ? .host : .other
        case 6: return equals("cookie") ? .cookie : .other
        case 9:
            if equals("forwarded") { return .forwarded }
            return equals("x-real-ip") ? .xRealIP : .other
        case 7:
            if equals("upgrade") { return .upgrade }
            return equals("trailer") ? .trailer : .other
        case 10:
            if equals("connection") { return .connection }
            if equals("tracestate") { return .tracestate }
            return equals("keep-alive") ? .keepAlive : .other
        case 11: return equals("traceparent") ? .traceparent : .other
        case 12: return equals("x-request-id") ? .xRequestID : .other
        case 14: return equals("content-length") ? .contentLength : .other
        case 15:
            if equals("x-forwarded-for") { return .xForwardedFor }
            return .other
        case 16:
            if equals("x-forwarded-host") { return .xForwardedHost }
            if equals("proxy-connection") { return .proxyConnection }
            return .other
        case 17:
            if equals("transfer-encoding") { return .transferEncoding }
            return equals("x-forwarded-proto") ? .xForwardedProto : .other
        case 21: return equals("x-client-cert-subject") ? .xClientCertSubject : .other
        default: return .other
        }
    }

    /// ASCII case-insensitive comparison of a byte range with a lower-case literal.
    static func equalsLowercase(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ literal: String) -> Bool {
        let utf8 = literal.utf8
        guard utf8.count == end - start else { return false }
        var i = start
        for c in utf8 {
            var b = bytes[i]
            if b >= 65, b <= 90 { b |= 0x20 }
            if b != c { return false }
            i += 1
        }
        return true
    }

    /// Parses a Content-Length value: digits only, no sign, no list, no overflow.
    static func contentLength(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
        guard end > start, end - start <= 18 else { return nil }
        var value = 0
        for i in start..<end {
            let b = bytes[i]
            guard b >= 48, b <= 57 else { return nil }
            value = value * 10 + Int(b - 48)
        }
        return value
    }

    /// The tokens of a `Connection` value; the two values nearly every message carries are
    /// recognised from the bytes, without allocating.
    static let keepAliveTokens = ["keep-alive"], closeTokens = ["close"]

    static func connectionTokens(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> [String] {
        if equalsLowercase(bytes, start, end, "keep-alive") { return keepAliveTokens }
        if equalsLowercase(bytes, start, end, "close") { return closeTokens }
        return tokens(bytes, start, end)
    }

    /// Splits a comma-separated header value into trimmed, non-empty, lower-cased tokens.
    static func tokens(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> [String] {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
            .lowercased()
            .split(separator: ",")
            .map { $0.trimmingCharacters(in: " \t") }
            .filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let scalars = Set(set.unicodeScalars)
        var s = Substring(self)
        while let f = s.unicodeScalars.first, scalars.contains(f) { s = Substring(s.unicodeScalars.dropFirst()) }
        while let l = s.unicodeScalars.last, scalars.contains(l) { s = Substring(s.unicodeScalars.dropLast()) }
        return String(s)
    }
}
