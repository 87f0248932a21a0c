import NIOCore

/// Where a server's responses begin and end on one connection: the head parser, 1xx interim
/// heads, and the body's framing (none, Content-Length, chunked, until close), without I/O.
///
/// `UpstreamConnection` feeds it the server's reads and acts on each step; the response fuzz
/// target (`ResponseStream`) drives the same type, so the code that is fuzzed is the code that
/// runs. Where a response ends is what keeps a kept-alive connection in step with the next
/// request, so no step depends on how the server's bytes were split into reads.
struct ResponseFraming {
    enum Phase: Equatable {
        /// No request in flight: a byte from the server now breaks framing.
        case idle
        case awaitingHead
        case body(BodyFraming)
        /// Failed or closed: nothing more is read.
        case closed
    }

    /// One step of reading; `next` is called until it says `needMore` (or ends the response).
    enum Step {
        /// Everything given was taken; more bytes are needed.
        case needMore
        /// A 1xx head (not 101), to pass on; the final head follows.
        case interim(ResponseHead)
        /// The final head. `whole` is the read's bytes from the head on, so the head can leave
        /// in one slice with the body bytes that follow it.
        case head(ResponseHead, whole: ByteBuffer)
        /// Body bytes to forward as they arrived (chunked framing included).
        case body(ByteBuffer)
        /// The response ended; what is left in the buffer belongs to the next response.
        case end
        /// The server broke HTTP; the connection is not to be read any more.
        case failed(String)
    }

    private(set) var phase: Phase = .idle
    /// Whether any byte of the current response has arrived (a close before one is retryable).
    private(set) var sawResponseBytes = false
    let maxHeadBytes: Int
    private var requestIsHead = false
    private var input: ByteBuffer?
    private var spareFields: [HeaderField] = []
    private var remaining = 0
    private var chunked = ChunkedFraming()

    init(maxHeadBytes: Int = 65_536) { self.maxHeadBytes = maxHeadBytes }

    /// The next response on the connection answers a request (a HEAD request's has no body).
    mutating func expectResponse(toHead: Bool) {
        guard phase != .closed else { return }
        phase = .awaitingHead
        requestIsHead = toHead
        sawResponseBytes = false
        input = nil
    }

    /// Gives a head's field storage back for the next head, once the head is no longer read.
    mutating func recycle(_ fields: [HeaderField]) { spareFields = fields }

    /// Reads from `buffer` (consuming what it takes) up to the next step.
    mutating func next(_ buffer: inout ByteBuffer) -> Step {
        switch phase {
        case .idle, .closed:
            return .needMore
        case .awaitingHead:
            if buffer.readableBytes > 0 {
                sawResponseBytes = true
                if input == nil { input = buffer } else { input!.writeBuffer(&buffer) }
                buffer.moveReaderIndex(to: buffer.writerIndex)
            }
            guard input != nil else { return .needMore }
            let whole = input!
            let parsed: ResponseHead?
            do {
                parsed = try ResponseHeadParser.parse(&input!, requestMethodIsHead: requestIsHead, maxHeadBytes: maxHeadBytes,
                                                     reusing: &spareFields)
            } catch {
                return fail(error.reason)
            }
            guard let head = parsed else { return .needMore }
            buffer = input!
            input = nil
            if head.isInterim { return .interim(head) }
            phase = .body(head.framing)
            switch head.framing {
            case .contentLength(let n): remaining = n
            case .chunked: chunked = ChunkedFraming()
            default: break
            }
            return .head(head, whole: whole)
        case .body(let framing):
            switch framing {
            case .none:
                return end()
            case .contentLength:
                if remaining == 0 { return end() }
                guard buffer.readableBytes > 0 else { return .needMore }
                let take = min(remaining, buffer.readableBytes)
                remaining -= take
                return .body(buffer.readSlice(length: take)!)
            case .chunked:
                if chunked.isDone { return end() }
                guard buffer.readableBytes > 0 else { return .needMore }
                let consumed: Int
                do {
                    consumed = try buffer.withUnsafeReadableBytes { raw throws(ChunkedFraming.Failure) in try chunked.consume(raw) }
                } catch {
                    return fail("invalid chunked framing from server")
                }
                guard consumed > 0 else { return chunked.isDone ? end() : .needMore }
                return .body(buffer.readSlice(length: consumed)!)
            case .untilClose:
                guard buffer.readableBytes > 0 else { return .needMore }
                let all = buffer
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return .body(all)
            }
        }
    }

    /// The server closed the connection: the end of a response framed by the close, else a
    /// failure when a response was in flight (nil when none was).
    mutating func serverClosed() -> Step? {
        let before = phase
        phase = .closed
        input = nil
        switch before {
        case .body(.untilClose): return .end
        case .awaitingHead, .body: return .failed("the server closed the connection before the response ended")
        case .idle, .closed: return nil
        }
    }

    /// The connection is closed from our side.
    mutating func close() {
        phase = .closed
        input = nil
    }

    private mutating func end() -> Step {
        phase = .idle
        return .end
    }

    private mutating func fail(_ why: String) -> Step {
        phase = .closed
        input = nil
        return .failed(why)
    }
}
