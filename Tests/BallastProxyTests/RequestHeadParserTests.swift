import NIOCore
import Testing
@testable import BallastProxy

func parseRequest(_ text: String, maxHead: Int = 16_384, maxBody: Int = 1 << 20) throws(HTTPHeadError) -> (RequestHead?, ByteBuffer) {
    var parser = RequestHeadParser(maxHeadBytes: maxHead, maxBodyBytes: maxBody)
    var buffer = ByteBuffer(string: text)
    var spare: [HeaderField] = []
    let head = try parser.parse(&buffer, reusing: &spare)
    return (head, buffer)
}

func refusal(_ text: String, maxHead: Int = 16_384, maxBody: Int = 1 << 20) -> HTTPHeadError? {
    do {
        _ = try parseRequest(text, maxHead: maxHead, maxBody: maxBody)
        return nil
    } catch {
        return error
    }
}

@Suite struct RequestHeadParserTests {
    @Test func parsesAValidHeadAndLeavesTheBody() throws {
        let (head, rest) = try parseRequest("POST /auth/login?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 5\r\nX-A:  padded  \r\n\r\nhello")
        let h = try #require(head)
        #expect(h.method == "POST")
        #expect(h.target == "/auth/login?x=1")
        #expect(h.path == "/auth/login")
        #expect(h.host == "example.com:8080")
        #expect(h.framing == .contentLength(5))
        #expect(h.fields.count == 3)
        #expect(h.value(of: h.fields[2]) == "padded")
        #expect(h.value(named: "x-a") == "padded")
        #expect(!h.wantsClose)
        #expect(String(buffer: rest) == "hello")
    }

    @Test func incompleteHeadAsksForMore() throws {
        let (head, rest) = try parseRequest("GET / HTTP/1.1\r\nHost: a\r\n")
        #expect(head == nil)
        #expect(rest.readableBytes == 25)
    }

    @Test func headSplitAtEveryByteParsesTheSame() throws {
        // Bytes, not Characters: "\r\n" is a single Character in Swift.
        let text = Array("GET /x HTTP/1.1\r\nHost: a\r\nCookie: s=1\r\n\r\n".utf8)
        for split in 1..<text.count {
            var parser = RequestHeadParser(maxHeadBytes: 1024, maxBodyBytes: 0)
            var buffer = ByteBuffer(bytes: text[..<split])
            var spare: [HeaderField] = []
            #expect(try parser.parse(&buffer, reusing: &spare) == nil)
            buffer.writeBytes(text[split...])
            let head = try #require(try parser.parse(&buffer, reusing: &spare))
            #expect(head.firstValue(.cookie) == "s=1")
        }
    }

    @Test func leadingEmptyLinesAreIgnored() throws {
        #expect(try parseRequest("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").0?.path == "/")
    }

    @Test func connectionSemantics() throws {
        #expect(try parseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").0?.wantsClose == true)
        #expect(try parseRequest("GET / HTTP/1.0\r\n\r\n").0?.wantsClose == true)
        #expect(try parseRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").0?.wantsClose == false)
        let head = try #require(try parseRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret\r\nX-Secret: 1\r\nX-Other: 2\r\n\r\n").0)
        #expect(head.fields.map(\.droppedByConnection) == [false, false, true, false])
    }

    @Test func idempotence() throws {
        #expect(try parseRequest("GET / HTTP/1.1\r\nHost: a\r\n\r\n").0?.isIdempotent == true)
        #expect(try parseRequest("POST / HTTP/1.1\r\nHost: a\r\n\r\n").0?.isIdempotent == false)
    }

    /// Every request smuggling vector named in the issue, and the status it gets.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n\tX-A: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: y\0z\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: \u{1B}[31m\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a\u{7F}b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n: empty-name\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nBad Name: x\r\nHost: a\r\n\r\n", 400),
    ])
    func refusesAmbiguousRequests(request: String, status: Int) {
        #expect(refusal(request)?.status == status, "\(request.debugDescription)")
    }

    @Test func limits() {
        let big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 2000) + "\r\n\r\n"
        #expect(refusal(big, maxHead: 1024) == .headersTooLarge)
        // Still too large before the end of the head has arrived.
        #expect(refusal(String(big.prefix(1500)), maxHead: 1024) == .headersTooLarge)
        #expect(refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", maxBody: 10) == .bodyTooLarge)
        #expect(refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", maxBody: 10) == nil)
    }

    @Test func tabsAroundValuesAreAllowedAndTrimmed() throws {
        let head = try #require(try parseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked \t\r\n\r\n").0)
        #expect(head.framing == .chunked)
    }
}

@Suite struct ByteClassTests {
    @Test func tcharMasksMatchRFC9110() {
        let tchar = Set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&'*+-.^_`|~".utf8)
        for b in 0...255 {
            #expect(HeadScanner.isTchar(UInt8(b)) == tchar.contains(UInt8(b)), "byte \(b)")
            let value = b == 9 || b == 32 || (33...126).contains(b) || b >= 128
            #expect(HeadScanner.isValueByte(UInt8(b)) == value, "byte \(b)")
        }
    }
}
