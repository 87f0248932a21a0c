import NIOCore

/// The response side of a server connection without its sockets: one response read by the
/// `ResponseFraming` that `UpstreamConnection` runs, and what the balancer makes of it. Where a response ends is what keeps a kept-alive
/// server connection in step with the next request, so the fuzzer checks that this does not
/// depend on how the server's bytes are split into reads.
package struct ResponseStream {
    package enum Event: Sendable, Equatable, CustomStringConvertible {
        /// A 1xx interim head (not 101), passed on; the final head follows.
        case interim(status: Int, headBytes: Int)
        /// The final head: its status, framing ("none", "length N", "chunked", "until close"),
        /// whether it sheds load (503 with Retry-After) and whether the server closes after it.
        case head(status: Int, headBytes: Int, framing: String, shedsLoad: Bool, serverCloses: Bool)
        /// Body bytes forwarded to the client as they arrived (chunked framing included).
        case body(Int)
        /// The response ended; `reusable` when the connection may carry the next request.
        case end(reusable: Bool)
        /// The server broke HTTP: the exchange fails with 502 and the connection is closed.
        case failed(String)

        package var description: String {
            switch self {
            case .interim(let status, let bytes): "interim \(status) (\(bytes) bytes)"
            case .head(let status, let bytes, let framing, let sheds, let closes):
                "head \(status) (\(bytes) bytes, \(framing)\(sheds ? ", sheds load" : "")\(closes ? ", server closes" : ""))"
            case .body(let n): "body \(n)"
            case .end(let reusable): "end\(reusable ? "" : ", not reusable")"
            case .failed(let why): "failed: \(why)"
            }
        }
    }

    package private(set) var events: [Event] = []
    private var framing: ResponseFraming
    private var reusable = true
    private var finished = false

    /// A response to a request (a HEAD request's response has no body).
    package init(requestIsHead: Bool = false, maxHeadBytes: Int = 65_536) {
        framing = ResponseFraming(maxHeadBytes: maxHeadBytes)
        framing.expectResponse(toHead: requestIsHead)
    }

    /// Reads `bytes` as the next read from the server, as `UpstreamConnection` does.
    package mutating func feed(_ bytes: some Collection<UInt8>) {
        guard !finished, !bytes.isEmpty else {
            // Bytes after the end of a response: the server broke framing.
            if finished, !bytes.isEmpty, case .end(true)? = events.last { events[events.count - 1] = .end(reusable: false) }
            return
        }
        var buffer = ByteBuffer(bytes: Array(bytes))
        while !finished {
            switch framing.next(&buffer) {
            case .needMore:
                return
            case .interim(let head):
                events.append(.interim(status: head.status, headBytes: head.bytes.readableBytes))
                framing.recycle(head.fields)
            case .head(let head, _):
                if head.serverCloses { reusable = false }
                events.append(.head(status: head.status, headBytes: head.bytes.readableBytes, framing: Self.describe(head.framing),
                                    shedsLoad: head.shedsLoad, serverCloses: head.serverCloses))
                framing.recycle(head.fields)
            case .body(let slice):
                forwarded(slice.readableBytes)
            case .end:
                end(leftover: buffer.readableBytes)
            case .failed(let why):
                fail(why)
            }
        }
    }

    /// The server closed the connection.
    package mutating func close() {
        guard !finished else { return }
        switch framing.serverClosed() {
        case .end?: end(leftover: 0)  // never reusable: the head said the server closes
        case .failed(let why)?: fail(why)
        default: fail("the server closed the connection before the response ended")
        }
    }

    private mutating func forwarded(_ n: Int) {
        guard n > 0 else { return }
        if case .body(let before)? = events.last { events[events.count - 1] = .body(before + n) } else { events.append(.body(n)) }
    }

    private mutating func end(leftover: Int) {
        finished = true
        events.append(.end(reusable: reusable && leftover == 0))
    }

    private mutating func fail(_ why: String) {
        finished = true
        events.append(.failed(why))
    }

    static func describe(_ framing: BodyFraming) -> String {
        switch framing {
        case .none: "none"
        case .contentLength(let n): "length \(n)"
        case .chunked: "chunked"
        case .untilClose: "until close"
        }
    }
}
