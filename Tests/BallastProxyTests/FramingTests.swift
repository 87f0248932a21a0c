import NIOCore
import Testing
@testable import BallastProxy

func consumeChunked(_ text: String, limit: Int = .max) throws(ChunkedFraming.Failure) -> (consumed: Int, done: Bool) {
    var framing = ChunkedFraming(limit: limit)
    let bytes = Array(text.utf8)
    let result: Result<Int, ChunkedFraming.Failure> = bytes.withUnsafeBytes { raw in
        do throws(ChunkedFraming.Failure) { return .success(try framing.consume(raw)) } catch { return .failure(error) }
    }
    return (try result.get(), framing.isDone)
}

@Suite struct ChunkedFramingTests {
    @Test func findsTheEndAndLeavesTheNextMessage() throws {
        let body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
        let result = try consumeChunked(body + "GET / HTTP/1.1\r\n")
        #expect(result.done)
        #expect(result.consumed == body.utf8.count)
    }

    @Test func trailersAreFollowed() throws {
        let body = "3\r\nabc\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"
        #expect(try consumeChunked(body).consumed == body.utf8.count)
        #expect(try consumeChunked(body).done)
    }

    @Test func everySplitPointGivesTheSameResult() throws {
        let body = Array("a\r\n0123456789\r\n1;x=\"y\"\r\nz\r\n0\r\nT: v\r\n\r\n".utf8)
        for split in 1..<body.count {
            var framing = ChunkedFraming()
            let first = try body[..<split].withUnsafeBytes { raw in try framing.consume(raw) }
            #expect(first == split)
            #expect(!framing.isDone)
            let second = try body[split...].withUnsafeBytes { raw in try framing.consume(raw) }
            #expect(second == body.count - split)
            #expect(framing.isDone)
        }
    }

    /// A request's trailers are checked and dropped: at every split point, the bytes marked
    /// forwardable plus the final CRLF are the body without its trailer fields.
    @Test func strippedTrailersAreNeverForwardedAtAnySplit() throws {
        let body = Array("3\r\nabc\r\n2;e=1\r\nde\r\n0\r\nContent-Length: 0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n".utf8)
        let expected = Array("3\r\nabc\r\n2;e=1\r\nde\r\n0\r\n\r\n".utf8)
        for split in 0...body.count {
            var framing = ChunkedFraming(stripsTrailers: true)
            var forwarded: [UInt8] = []
            for part in [body[..<split], body[split...]] where !part.isEmpty {
                let consumed = try part.withUnsafeBytes { raw in try framing.consume(raw) }
                #expect(consumed == part.count)
                forwarded += part.prefix(framing.forwardable)
            }
            #expect(framing.isDone)
            forwarded += ChunkedFraming.finalCRLF
            #expect(forwarded == expected, "split at \(split): \(String(decoding: forwarded, as: UTF8.self))")
        }
        // Without stripping (responses), everything passes.
        var framing = ChunkedFraming()
        _ = try body.withUnsafeBytes { raw in try framing.consume(raw) }
        #expect(framing.forwardable == body.count)
    }

    /// Extensions and trailers together are bounded (16 KiB), however they are spread.
    @Test func extensionsAndTrailersAreBounded() {
        let manyExtensions = String(repeating: "1;\(String(repeating: "x", count: 1000))\r\na\r\n", count: 17) + "0\r\n\r\n"
        #expect(throws: ChunkedFraming.Failure.framingTooLarge) { try consumeChunked(manyExtensions) }
        let hugeTrailers = "0\r\n" + String(repeating: "X-T: \(String(repeating: "v", count: 500))\r\n", count: 40) + "\r\n"
        #expect(throws: ChunkedFraming.Failure.framingTooLarge) { try consumeChunked(hugeTrailers) }
        let modest = "1;\(String(repeating: "x", count: 4000))\r\na\r\n0\r\n" + String(repeating: "X-T: v\r\n", count: 100) + "\r\n"
        #expect((try? consumeChunked(modest))?.done == true)
    }

    @Test(arguments: [
        ("zz\r\n", ChunkedFraming.Failure.invalidSize),
        ("\r\n", .invalidSize),
        ("-1\r\n", .invalidSize),
        ("0x5\r\n", .invalidSize),
        ("fffffffffffffffff\r\n", .invalidSize),
        ("5\nhello\r\n", .invalidSize),
        ("5\rhello", .missingCRLF),
        ("5\r\nhelloX\r\n", .missingCRLF),
        ("5\r\nhello\n0\r\n\r\n", .missingCRLF),
        ("5;a\nb\r\n", .invalidExtension),
        ("5;a\u{0}\r\n", .invalidExtension),
        ("0\r\nBad Trailer\r\n\r\n", .invalidTrailer),
        ("0\r\n X: folded\r\n\r\n", .invalidTrailer),
    ])
    func refusesMalformedFraming(body: String, failure: ChunkedFraming.Failure) {
        #expect(throws: failure) { try consumeChunked(body) }
    }

    @Test func enforcesTheBodyLimitBeforeTheDataArrives() {
        #expect(throws: ChunkedFraming.Failure.tooLarge) { try consumeChunked("b\r\n", limit: 10) }
        #expect(throws: Never.self) { try consumeChunked("a\r\n0123456789\r\n0\r\n\r\n", limit: 10) }
    }
}

func parseResponse(_ text: String, head isHead: Bool = false) throws(HTTPHeadError) -> ResponseHead? {
    var buffer = ByteBuffer(string: text)
    var spare: [HeaderField] = []
    return try ResponseHeadParser.parse(&buffer, requestMethodIsHead: isHead, maxHeadBytes: 65_536, reusing: &spare)
}

@Suite struct ResponseHeadTests {
    @Test func framingFollowsRFC9112() throws {
        #expect(try parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")?.framing == .contentLength(5))
        #expect(try parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?.framing == .chunked)
        #expect(try parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")?.framing == .chunked)
        #expect(try parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")?.framing == .untilClose)
        #expect(try parseResponse("HTTP/1.1 200 OK\r\n\r\n")?.serverCloses == true)
        #expect(try parseResponse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")?.framing == BodyFraming.none)
        #expect(try parseResponse("HTTP/1.1 304 Not Modified\r\n\r\n")?.framing == BodyFraming.none)
        #expect(try parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head: true)?.framing == BodyFraming.none)
        #expect(try parseResponse("HTTP/1.1 100 Continue\r\n\r\n")?.isInterim == true)
    }

    @Test func keepAliveAndRewriting() throws {
        let plain = try #require(try parseResponse("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"))
        #expect(!plain.needsRewrite)
        #expect(!plain.serverCloses)
        let closing = try #require(try parseResponse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
        #expect(closing.needsRewrite)
        #expect(closing.serverCloses)
        #expect(try parseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")?.serverCloses == true)
        #expect(try parseResponse("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n")?.needsRewrite == true)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
    ])
    func malformedResponsesAreRefused(text: String) {
        #expect(throws: HTTPHeadError.self) { try parseResponse(text) }
    }
}
