import NIOCore

/// Where a client's requests begin and end on one connection: the head parser (with its
/// limits) and the body's framing (none, Content-Length, chunked with trailers dropped), without
/// I/O.
///
/// `ClientConnection` appends what it reads and takes steps when it is ready for them: the next
/// head only once the exchange before it is done (pipelined requests wait in `input`), body
/// bytes as they come. The request fuzz target (`RequestStream`) drives the same type, so the
/// code that is fuzzed is the code that runs.
struct RequestFraming {
    enum Phase: Equatable {
        /// Between requests, or inside a head: the next step is a head.
        case head
        /// Inside a body framed by Content-Length.
        case length
        /// Inside a chunked body.
        case chunked
        /// The chunked body ended; its trailers were dropped and a bare CRLF ends it instead.
        case finalCRLF
        /// The body is whole; `end` is the next step.
        case complete
    }

    enum Step {
        case needMore
        /// A request head; its body (if any) follows as `body` steps and an `end`.
        case head(RequestHead)
        /// A head that breaks HTTP or a limit: answer `status`, then close.
        case refused(HTTPHeadError)
        /// Body bytes to forward, as they arrived.
        case body(ByteBuffer)
        /// The request's body is complete.
        case end
        /// The body cannot be completed: answer `status` if nothing was answered yet, then close.
        case bodyFailed(status: Int, error: String, message: String)
    }

    var parser: RequestHeadParser
    private(set) var phase: Phase = .head
    /// Bytes read and not yet taken: a partial head, pipelined requests, body bytes not yet sent.
    private(set) var input: ByteBuffer?
    private var spareFields: [HeaderField] = []
    private var remaining = 0
    private var chunked = ChunkedFraming()

    init(maxHeadBytes: Int, maxBodyBytes: Int) {
        parser = RequestHeadParser(maxHeadBytes: maxHeadBytes, maxBodyBytes: maxBodyBytes)
    }

    /// The end of a chunked body whose trailers were dropped.
    static let finalCRLF = ByteBuffer(bytes: ChunkedFraming.finalCRLF)

    var bufferedBytes: Int { input?.readableBytes ?? 0 }
    var hasInput: Bool { bufferedBytes > 0 }
    /// Whether the current request's body is still being read.
    var inBody: Bool { phase != .head }

    /// Adds bytes read from the client (without a copy when nothing was left over).
    mutating func append(_ buffer: inout ByteBuffer) {
        if input == nil || input!.readableBytes == 0 {
            input = buffer
        } else {
            input!.writeBuffer(&buffer)
        }
    }

    /// Everything buffered, taken (a tunnel starts: the bytes are no longer HTTP).
    mutating func takeAll() -> ByteBuffer? {
        defer { input = nil }
        return input
    }

    /// Forgets what is buffered (the connection answers, then closes).
    mutating func discardInput() { input = nil }

    /// Gives a head's field storage back for the next head, once the head is no longer read.
    mutating func recycle(_ fields: [HeaderField]) { spareFields = fields }

    /// The next request head, once the previous request has ended.
    mutating func nextHead() -> Step {
        guard phase == .head else { return .needMore }
        guard input != nil, input!.readableBytes > 0 else {
            input = nil
            return .needMore
        }
        let head: RequestHead?
        do {
            head = try parser.parse(&input!, reusing: &spareFields)
        } catch {
            return .refused(error)
        }
        guard let head else { return .needMore }
        switch head.framing {
        case .contentLength(let n) where n > 0:
            remaining = n
            phase = .length
        case .chunked:
            chunked = ChunkedFraming(limit: parser.maxBodyBytes, stripsTrailers: true)
            phase = .chunked
        default:
            break
        }
        return .head(head)
    }

    /// The current request's next body bytes, or its end.
    mutating func nextBody() -> Step {
        switch phase {
        case .head:
            return .needMore
        case .complete:
            phase = .head
            return .end
        case .finalCRLF:
            phase = .complete
            return .body(Self.finalCRLF)
        case .length:
            guard input != nil, input!.readableBytes > 0 else { return .needMore }
            let take = min(remaining, input!.readableBytes)
            remaining -= take
            if remaining == 0 { phase = .complete }
            return .body(takeInput(take))
        case .chunked:
            guard input != nil, input!.readableBytes > 0 else { return .needMore }
            let consumed: Int
            do {
                consumed = try input!.withUnsafeReadableBytes { raw throws(ChunkedFraming.Failure) in try chunked.consume(raw) }
            } catch {
                switch error {
                case .tooLarge: return .bodyFailed(status: 413, error: "body_too_large", message: "request body is too large")
                case .framingTooLarge:
                    return .bodyFailed(status: 413, error: "body_too_large", message: "chunk extensions and trailers are too large")
                default: return .bodyFailed(status: 400, error: "bad_request", message: "invalid chunked request body")
                }
            }
            guard consumed > 0 || chunked.isDone else { return .needMore }
            if chunked.isDone { phase = .finalCRLF }
            let forwardable = chunked.forwardable
            let slice = takeInput(consumed)
            // Trailer fields are read, checked and dropped, never forwarded (ChunkedFraming).
            if forwardable == consumed { return .body(slice) }
            return .body(slice.getSlice(at: slice.readerIndex, length: forwardable)!)
        }
    }

    private mutating func takeInput(_ count: Int) -> ByteBuffer {
        let slice = input!.readSlice(length: count)!
        if input!.readableBytes == 0 { input = nil }
        return slice
    }
}
