import NIOCore
import Testing
@testable import BallastProxy

/// `traceparent` as W3C Trace Context parses it: what is continued, what starts a new trace.
@Suite struct TraceContextTests {
    func parse(_ text: String) -> TraceContext? {
        Array(text.utf8).withUnsafeBytes { TraceContext.parse($0) }
    }

    @Test func aValidParentIsContinuedWithItsTraceAndFlags() throws {
        var trace = try #require(parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.flags == 1 && trace.sampled)
        #expect(trace.parent == 0x00f067aa0ba902b7)  // the client's span: the hop's parent in the trace
        var out = ByteBuffer()
        trace.write(span: 0x1234, into: &out)
        #expect(String(buffer: out) == "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000001234-01\r\n")
        #expect(trace.span == 0x1234)  // the hop's span, for its span record
        // A later version may carry more after the same prefix.
        #expect(parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-brings")?.traceID == trace.traceID)
    }

    @Test(arguments: [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",                // short
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",         // version 00 is exactly 55
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",               // version ff
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",               // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",               // zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",               // upper case
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",               // separators
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",               // not hex
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",              // a later version without '-'
    ])
    func anInvalidParentStartsANewTrace(_ text: String) {
        #expect(parse(text) == nil, "\(text)")
    }
}
