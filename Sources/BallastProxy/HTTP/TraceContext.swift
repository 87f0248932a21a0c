import NIOCore

/// W3C Trace Context's `traceparent` (https://www.w3.org/TR/trace-context/): the trace a
/// request belongs to. A client's valid trace is continued (its trace id and flags kept, a new
/// span id for the hop to the server); without one, or with an invalid one, a trace starts.
struct TraceContext: Equatable, Sendable {
    var traceHigh: UInt64
    var traceLow: UInt64
    var flags: UInt8
    /// The client's span (its `traceparent`'s parent id); 0 for a trace started here.
    var parent: UInt64 = 0
    /// The span of this hop last sent to a server (each attempt has its own).
    var span: UInt64 = 0

    /// Whether the trace is sampled (the flags' lowest bit).
    var sampled: Bool { flags & 1 == 1 }

    /// A value as the spec parses it: `00-` 32 lower-case hex `-` 16 hex `-` 2 hex, exactly 55
    /// characters for version 00; a later version may append `-…` after the same prefix. The
    /// version `ff`, an all-zero trace id or parent id, and upper-case hex are invalid.
    static func parse(_ value: UnsafeRawBufferPointer) -> TraceContext? {
        guard value.count >= 55 else { return nil }
        guard let version = hex(value, 0, 2), version != 0xFF, value[2] == UInt8(ascii: "-"), value[35] == UInt8(ascii: "-"),
              value[52] == UInt8(ascii: "-") else { return nil }
        if version == 0 {
            guard value.count == 55 else { return nil }
        } else if value.count > 55, value[55] != UInt8(ascii: "-") {
            return nil
        }
        guard let high = hex(value, 3, 16), let low = hex(value, 19, 16), let parent = hex(value, 36, 16), let flags = hex(value, 53, 2),
              high != 0 || low != 0, parent != 0 else { return nil }
        return TraceContext(traceHigh: high, traceLow: low, flags: UInt8(flags), parent: parent)
    }

    /// `count` lower-case hex digits from `offset`; nil for anything else.
    private static func hex(_ bytes: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> UInt64? {
        var value: UInt64 = 0
        for byte in bytes[offset..<(offset + count)] {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// The trace id as the access log and the spec write it: 32 lower-case hex digits.
    var traceID: String { HexWord.text(traceHigh) + HexWord.text(traceLow) }

    /// `traceparent: 00-TRACE-SPAN-FLAGS` and CRLF, the span being this hop's.
    /// Written in place, 70 bytes, no allocation: this is on every request's path.
    mutating func write(span: UInt64, into out: inout ByteBuffer) {
        let span = span == 0 ? 1 : span
        self.span = span
        out.writeStaticString("traceparent: 00-")
        out.writeHexWord(traceHigh)
        out.writeHexWord(traceLow)
        out.writeStaticString("-")
        out.writeHexWord(span)
        out.writeStaticString("-")
        let digits = HexWord.digits.utf8Start
        out.writeInteger(digits[Int(flags >> 4)])
        out.writeInteger(digits[Int(flags & 0xF)])
        out.writeStaticString("\r\n")
    }
}
