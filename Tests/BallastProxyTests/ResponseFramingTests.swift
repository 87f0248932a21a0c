import NIOCore
import Testing
@testable import BallastProxy

/// `ResponseFraming` without a socket: the steps `UpstreamConnection` acts on.
@Suite struct ResponseFramingTests {
    /// What one read gives, steps written as text: "head 200", "body 5", "end", "interim 100",
    /// "failed: …"; `needMore` ends the list.
    static func steps(_ framing: inout ResponseFraming, _ text: String) -> (steps: [String], leftover: Int) {
        var buffer = ByteBuffer(string: text)
        var out: [String] = []
        loop: while true {
            switch framing.next(&buffer) {
            case .needMore: break loop
            case .interim(let head): out.append("interim \(head.status)"); framing.recycle(head.fields)
            case .head(let head, let whole):
                out.append("head \(head.status)")
                #expect(whole.readableBytes >= head.bytes.readableBytes)
                framing.recycle(head.fields)
            case .body(let slice): out.append("body \(slice.readableBytes)")
            case .end: out.append("end"); break loop
            case .failed(let why): out.append("failed: \(why)"); break loop
            }
        }
        return (out, buffer.readableBytes)
    }

    @Test func aLengthBodyEndsExactlyAndLeavesTheNextResponse() {
        var framing = ResponseFraming()
        framing.expectResponse(toHead: false)
        let first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        let second = "HTTP/1.1 204 No Content\r\n\r\n"
        let (steps, leftover) = Self.steps(&framing, first + second)
        #expect(steps == ["head 200", "body 5", "end"])
        #expect(leftover == second.utf8.count)
        #expect(framing.phase == .idle)
        framing.expectResponse(toHead: false)
        #expect(Self.steps(&framing, second).steps == ["head 204", "end"])
    }

    @Test func everySplitOfAChunkedResponseGivesTheSameBodyAndEnd() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nT: v\r\n\r\n"
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8.count
        let bytes = Array(text.utf8)
        for split in 1..<bytes.count {
            var framing = ResponseFraming()
            framing.expectResponse(toHead: false)
            let a = Self.steps(&framing, String(decoding: bytes[..<split], as: UTF8.self)).steps
            let b = Self.steps(&framing, String(decoding: bytes[split...], as: UTF8.self)).steps
            let all = a + b
            #expect(all.first == "head 200" && all.last == "end", "split at \(split): \(all)")
            let body = all.compactMap { $0.hasPrefix("body ") ? Int($0.dropFirst(5)) : nil }.reduce(0, +)
            #expect(body == bytes.count - head, "split at \(split)")
        }
    }

    @Test func interimHeadsComeBeforeTheFinalOne() {
        var framing = ResponseFraming()
        framing.expectResponse(toHead: false)
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
        #expect(Self.steps(&framing, text).steps == ["interim 100", "interim 103", "head 201", "body 2", "end"])
    }

    @Test func aResponseToHeadHasNoBodyWhateverItsLengthSays() {
        var framing = ResponseFraming()
        framing.expectResponse(toHead: true)
        let (steps, leftover) = Self.steps(&framing, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        #expect(steps == ["head 200", "end"] && leftover == 0)
    }

    @Test func aBodyUntilCloseEndsAtTheClose() {
        var framing = ResponseFraming()
        framing.expectResponse(toHead: false)
        #expect(Self.steps(&framing, "HTTP/1.0 200 OK\r\n\r\nsome").steps == ["head 200", "body 4"])
        #expect(Self.steps(&framing, " more").steps == ["body 5"])
        guard case .end? = framing.serverClosed() else { Issue.record("the close should end the body"); return }
        #expect(framing.phase == .closed)
    }

    @Test func aCloseBeforeTheEndFailsAndSaysWhetherBytesCame() {
        var quiet = ResponseFraming()
        quiet.expectResponse(toHead: false)
        #expect(!quiet.sawResponseBytes)
        guard case .failed? = quiet.serverClosed() else { Issue.record("a close while waiting fails"); return }

        var cut = ResponseFraming()
        cut.expectResponse(toHead: false)
        #expect(Self.steps(&cut, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").steps == ["head 200", "body 3"])
        #expect(cut.sawResponseBytes)
        guard case .failed? = cut.serverClosed() else { Issue.record("a close mid-body fails"); return }

        var idle = ResponseFraming()
        #expect(idle.serverClosed().map { _ in true } == nil)  // nothing was in flight
    }

    @Test func brokenResponsesFailAndNothingMoreIsRead() {
        for text in ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                     "NOT HTTP\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"] {
            var framing = ResponseFraming()
            framing.expectResponse(toHead: false)
            let steps = Self.steps(&framing, text).steps
            #expect(steps.last?.hasPrefix("failed: ") == true, "\(text.debugDescription): \(steps)")
            #expect(framing.phase == .closed)
            #expect(Self.steps(&framing, "HTTP/1.1 200 OK\r\n\r\n").steps.isEmpty)
        }
    }

    @Test func aHeadOverTheLimitFails() {
        var framing = ResponseFraming(maxHeadBytes: 64)
        framing.expectResponse(toHead: false)
        // A head still without its end past the limit: the server is not waited on any longer.
        #expect(Self.steps(&framing, "HTTP/1.1 200 OK\r\nX-Long: " + String(repeating: "a", count: 20)).steps.isEmpty)
        let steps = Self.steps(&framing, String(repeating: "a", count: 40)).steps
        #expect(steps.count == 1 && steps[0].hasPrefix("failed: "), "\(steps)")
    }

    @Test func bytesWhileIdleAreNotTaken() {
        var framing = ResponseFraming()
        let (steps, leftover) = Self.steps(&framing, "HTTP/1.1 200 OK\r\n\r\n")
        #expect(steps.isEmpty && leftover > 0)
    }
}
