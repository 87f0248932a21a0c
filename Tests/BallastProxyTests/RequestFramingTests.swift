import NIOCore
import Testing
@testable import BallastProxy

/// `RequestFraming` without a socket: the steps `ClientConnection` takes from a client's bytes.
@Suite struct RequestFramingTests {
    /// Feeds `pieces` one read at a time, taking every step the way the connection does when each
    /// request is answered at once; steps as text: "GET /a", "body 5", "end", "refused 400", …
    static func run(_ pieces: [String], maxHead: Int = 8_192, maxBody: Int = 1 << 20) -> [String] {
        var framing = RequestFraming(maxHeadBytes: maxHead, maxBodyBytes: maxBody)
        var out: [String] = []
        var bodyBytes = 0
        func flushBody() { if bodyBytes > 0 { out.append("body \(bodyBytes)"); bodyBytes = 0 } }
        for piece in pieces {
            var buffer = ByteBuffer(string: piece)
            framing.append(&buffer)
            steps: while true {
                if framing.inBody {
                    switch framing.nextBody() {
                    case .body(let slice): bodyBytes += slice.readableBytes
                    case .end: flushBody(); out.append("end")
                    case .bodyFailed(let status, _, _): flushBody(); out.append("failed \(status)"); return out
                    default: break steps
                    }
                } else {
                    switch framing.nextHead() {
                    case .head(let head):
                        out.append("\(head.method) \(head.target)")
                        if !framing.inBody { out.append("end") }
                        framing.recycle(head.fields)
                    case .refused(let error): out.append("refused \(error.status)"); return out
                    default: break steps
                    }
                }
            }
        }
        flushBody()
        return out
    }

    /// Every way of cutting `text` in two reads gives the same steps as one read.
    static func expectSplitsAgree(_ text: String, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run([text]) == expected, sourceLocation: sourceLocation)
        let bytes = Array(text.utf8)
        for split in 1..<bytes.count {
            let a = String(decoding: bytes[..<split], as: UTF8.self), b = String(decoding: bytes[split...], as: UTF8.self)
            #expect(run([a, b]) == expected, "split at \(split)", sourceLocation: sourceLocation)
        }
    }

    @Test func pipelinedRequestsComeOneAfterAnother() {
        let text = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nHost: x\r\n\r\n"
        Self.expectSplitsAgree(text, ["GET /a", "end", "POST /b", "body 5", "end", "GET /c", "end"])
    }

    @Test func aChunkedBodyIsForwardedWithoutItsTrailers() {
        let text = "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: secret\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n"
        // "5\r\nhello\r\n0\r\n" then a bare CRLF: 15 bytes, the trailer dropped.
        Self.expectSplitsAgree(text, ["POST /u", "body 15", "end", "GET /n", "end"])
    }

    @Test func theNextHeadWaitsUntilTheBodyIsRead() {
        var framing = RequestFraming(maxHeadBytes: 8_192, maxBodyBytes: 1 << 20)
        var buffer = ByteBuffer(string: "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        framing.append(&buffer)
        guard case .head = framing.nextHead() else { Issue.record("a head first"); return }
        guard case .needMore = framing.nextHead() else { Issue.record("no head inside a body"); return }
        guard case .body(let body) = framing.nextBody() else { Issue.record("the body"); return }
        #expect(body.readableBytes == 3)
        guard case .end = framing.nextBody() else { Issue.record("the end"); return }
        guard case .needMore = framing.nextBody() else { Issue.record("no body between requests"); return }
        guard case .head(let next) = framing.nextHead() else { Issue.record("the pipelined head"); return }
        #expect(next.target == "/c" && !framing.hasInput)
    }

    @Test func bodiesOverTheLimitOrBrokenFail() {
        let big = "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + String(repeating: "a", count: 1024) + "\r\n0\r\n\r\n"
        #expect(Self.run([big], maxBody: 100).last == "failed 413")
        #expect(Self.run(["POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]).last == "failed 400")
        // A declared length over the limit is the head's fault.
        #expect(Self.run(["POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n"], maxBody: 100) == ["refused 413"])
    }

    @Test func headsThatBreakHTTPOrTheLimitAreRefused() {
        #expect(Self.run(["GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]) == ["refused 400"])
        #expect(Self.run(["GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"]).first == "refused 400")
        let long = "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + String(repeating: "a", count: 200)
        #expect(Self.run([long, "a"], maxHead: 128) == ["refused 431"])
    }

    @Test func aPartialHeadStaysBufferedAndIsNotAStep() {
        var framing = RequestFraming(maxHeadBytes: 8_192, maxBodyBytes: 1 << 20)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHo")
        framing.append(&buffer)
        guard case .needMore = framing.nextHead() else { Issue.record("a partial head is no step"); return }
        #expect(framing.bufferedBytes == 18)
        framing.discardInput()
        #expect(!framing.hasInput)
    }
}
