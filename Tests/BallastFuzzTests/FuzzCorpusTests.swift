@testable import BallastFuzz
import BallastProxy
import BallastConfig
import Foundation
import Testing

/// The fuzz corpus and every input the fuzzer ever broke a property with, replayed on each test
/// run: what libFuzzer found once stays found.
@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fuzz")

    static func inputs(_ folder: String, _ target: FuzzTarget) throws -> [(String, [UInt8])] {
        let directory = root.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
        return try names.map { ($0, Array(try Data(contentsOf: directory.appendingPathComponent($0)))) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusInputHoldsEveryProperty(_ target: FuzzTarget) throws {
        let corpus = try Self.inputs("corpus", target)
        #expect(corpus.count >= 20, "the \(target) corpus has only \(corpus.count) seeds")
        for (name, input) in corpus {
            let failure = target.check(input)
            #expect(failure == nil, "corpus/\(target)/\(name): \(failure ?? "")")
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyInputTheFuzzerBrokeSomethingWithStaysFixed(_ target: FuzzTarget) throws {
        for (name, input) in try Self.inputs("regressions", target) {
            let failure = target.check(input)
            #expect(failure == nil, "regressions/\(target)/\(name): \(failure ?? "")")
        }
    }

    // The properties must be able to fail: each broken head or event sequence below is caught.

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", "bare LF"),
        ("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", "NUL"),
        ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "folding"),
        ("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", "Content-Length headers"),
        ("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "together"),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "framing"),
        ("GET  / HTTP/1.1\r\n\r\n", "parts"),
        ("G@T / HTTP/1.1\r\n\r\n", "token"),
        ("GET / HTTP/2.0\r\n\r\n", "version"),
        ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "header name"),
    ])
    func anAmbiguousForwardedHeadIsCaught(_ head: String, _ expected: String) {
        let failure = RequestProperties.checkHead(Array(head.utf8), framing: "length 1")
        #expect(failure?.contains(expected) == true, "\(failure ?? "nothing caught")")
    }

    @Test func aBodyLongerThanItsFramingOrTrafficAfterAClosingRefusalIsCaught() {
        let head = Array("POST /api HTTP/1.1\r\nHost: api.example\r\nContent-Length: 2\r\n\r\n".utf8)
        let request = RequestStream.Event.request(head: head, method: "POST", target: "/api", framing: "length 2",
                                                  close: false, route: "api", server: "127.0.0.1:9001")
        let input = Array(repeating: UInt8(0), count: 100)
        #expect(RequestProperties.checkEvents([request, .body(3)], input: input)?.contains("body bytes forwarded") == true)
        #expect(RequestProperties.checkEvents([request, .body(1), .end], input: input)?.contains("framing said 2") == true)
        #expect(RequestProperties.checkEvents([.refused(status: 400, reason: "x", close: true), request], input: input)?
            .contains("after a refusal") == true)
        #expect(RequestProperties.checkEvents([.refused(status: 500, reason: "x", close: true)], input: input)?.contains("500") == true)
        #expect(RequestProperties.checkEvents([request, .body(2), .end], input: input) == nil)
    }

    @Test func aStreamIsFramedTheSameWhateverItsReads() {
        let text = "POST /api/a HTTP/1.1\r\nHost: api.example\r\nX-User: 7\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /static/x HTTP/1.1\r\nHost: b\r\nCookie: sid=abc\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n"
            + "GET /nowhere HTTP/1.1\r\nHost: b\r\n\r\n"
            + "GET /static/y HTTP/1.1\r\nHost: b\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        let input = Array(text.utf8)
        let events = RequestProperties.run(input, pieces: [input.count])
        #expect(events.map(\.description) == [
            "request POST /api/a (73 head bytes, length 5) route api server 127.0.0.1:9002",
            "body 5", "end",
            "request POST /static/x (81 head bytes, chunked) route static server 127.0.0.1:9005",
            // 31 bytes of chunked body, of which the trailer field is dropped: 17 forwarded and a final CRLF.
            "body 19", "end",
            "refused 404 no route matches GET /nowhere",
            "refused 400 both Content-Length and Transfer-Encoding, close",
        ])
        #expect(RequestProperties.check(input) == nil)
    }

    // The response properties must be able to fail too.

    @Test func aResponseWhoseFramingOrReuseIsWrongIsCaught() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        let input = Array((head + "ab").utf8)
        let bytes = head.utf8.count
        func verdict(_ events: [ResponseStream.Event], _ input: [UInt8]) -> String {
            ResponseProperties.checkEvents(events, input: input) ?? "nothing caught"
        }
        #expect(verdict([.head(status: 200, headBytes: bytes, framing: "until close", shedsLoad: false, serverCloses: true), .body(2),
                         .end(reusable: false)], input).contains("RFC 9112 says length 2"))
        #expect(verdict([.head(status: 200, headBytes: bytes, framing: "length 2", shedsLoad: false, serverCloses: false), .body(3)],
                        input + [0]).contains("3 body bytes"))
        #expect(verdict([.head(status: 200, headBytes: bytes, framing: "length 2", shedsLoad: false, serverCloses: false), .body(2),
                         .end(reusable: true)], input + Array("x".utf8)).contains("bytes after the response"))
        #expect(verdict([.head(status: 200, headBytes: bytes, framing: "length 2", shedsLoad: true, serverCloses: false), .body(2),
                         .end(reusable: true)], input).contains("sheds load"))
        let open = "HTTP/1.1 200 OK\r\n\r\n"
        #expect(verdict([.head(status: 200, headBytes: open.utf8.count, framing: "until close", shedsLoad: false, serverCloses: true), .body(1),
                         .end(reusable: true)], Array((open + "x").utf8)).contains("reusable after a body read until close"))
        #expect(ResponseProperties.check(input) == nil)
    }
}
