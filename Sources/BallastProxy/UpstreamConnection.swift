import NIOCore

/// Why an exchange with a server failed, which decides retry and status.
enum UpstreamFailure: Error, Equatable {
    /// The connection closed or reset before any response byte: safe to retry when idempotent.
    case closedBeforeResponse
    case closedMidResponse
    case malformedResponse(String)
}

/// One connection to a server: reads its responses and hands them to the client connection
/// that owns the exchange. Lives on the same event loop as that client connection.
final class UpstreamConnection: ChannelDuplexHandler, DeferredFlush {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum State {
        case idle
        case awaitingHead
        case body(BodyFraming)
        case closed
    }

    let server: ServerTarget
    private(set) var context: ChannelHandlerContext?
    private(set) var state: State = .idle
    /// The client connection whose request this connection is serving.
    var owner: ClientConnection?
    var idleDeadline: Int64 = 0
    /// Requests served before this one; a failure on a reused connection may be a stale close.
    private(set) var exchanges = 0
    private var input: ByteBuffer?
    private var spareFields: [HeaderField] = []
    /// A head to be forwarded as received, held back so it can leave in one slice with the
    /// body bytes that follow it in the same read (one write instead of two), and the read's
    /// bytes from the head on, which that combined slice is cut from.
    private var pendingHead: ByteBuffer?
    private var pendingWhole: ByteBuffer?
    private var remaining = 0
    private var chunked = ChunkedFraming()
    private var requestIsHead = false
    private var sawResponseBytes = false
    private var pendingRead = false
    var readsPaused = false
    private var reusable = true

    init(server: ServerTarget) { self.server = server }

    var isUsable: Bool {
        guard let context, context.channel.isActive, reusable else { return false }
        if case .idle = state { return true }
        return false
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    // MARK: Exchange

    /// Starts an exchange: the caller writes the request next.
    func begin(owner: ClientConnection, isHead: Bool) {
        self.owner = owner
        state = .awaitingHead
        requestIsHead = isHead
        sawResponseBytes = false
        exchanges += 1
    }

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    var flushQueued = false

    func flushNow() { context?.flush() }

    /// Marks the connection as not to be pooled (the exchange ended abnormally).
    func poison() { reusable = false }

    func close() {
        state = .closed
        reusable = false
        owner = nil
        context?.close(promise: nil)
    }

    func resumeReads() {
        readsPaused = false
        if pendingRead, let context {
            pendingRead = false
            context.read()
        }
    }

    // MARK: ChannelHandler

    func read(context: ChannelHandlerContext) {
        if readsPaused { pendingRead = true } else { context.read() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard let owner else {
            // A server talking while idle has broken framing: never reuse it.
            close()
            return
        }
        sawResponseBytes = true
        defer { emitPendingHead() }
        while case .awaitingHead = state {
            if input == nil { input = buffer } else { input!.writeBuffer(&buffer) }
            let whole = input!
            let parsed: ResponseHead?
            do {
                parsed = try ResponseHeadParser.parse(&input!, requestMethodIsHead: requestIsHead, maxHeadBytes: 65_536,
                                                     reusing: &spareFields)
            } catch {
                fail(.malformedResponse(error.reason))
                return
            }
            guard let head = parsed else { return }
            buffer = input!
            input = nil
            // The head's fields are only read before this call returns; the storage comes back
            // for the next response once `head` is released.
            defer { spareFields = head.fields }
            if head.isInterim {
                // 100 Continue and friends: pass on, then wait for the final head.
                owner.upstreamInterimResponse(head.bytes)
                continue
            }
            if head.serverCloses { reusable = false }
            state = .body(head.framing)
            switch head.framing {
            case .contentLength(let n): remaining = n
            case .chunked: chunked = ChunkedFraming()
            default: break
            }
            switch owner.upstreamResponseHead(head, from: self) {
            case .abandoned:
                return
            case .written:
                break
            case .verbatim:
                pendingHead = head.bytes
                pendingWhole = whole
            }
            if case .none = head.framing {
                finishResponse(leftover: buffer.readableBytes)
                return
            }
        }
        guard case .body(let framing) = state else { return }
        forwardBody(&buffer, framing: framing, to: owner)
    }

    private func forwardBody(_ buffer: inout ByteBuffer, framing: BodyFraming, to owner: ClientConnection) {
        guard buffer.readableBytes > 0 else {
            if case .contentLength = framing, remaining == 0 { finishResponse(leftover: 0) }
            return
        }
        switch framing {
        case .none:
            finishResponse(leftover: buffer.readableBytes)
        case .contentLength:
            let take = min(remaining, buffer.readableBytes)
            remaining -= take
            emit(buffer.readSlice(length: take)!, to: owner)
            if remaining == 0 { finishResponse(leftover: buffer.readableBytes) }
        case .chunked:
            let consumed: Int
            do {
                consumed = try buffer.withUnsafeReadableBytes { raw throws(ChunkedFraming.Failure) in try chunked.consume(raw) }
            } catch {
                fail(.malformedResponse("invalid chunked framing from server"))
                return
            }
            emit(buffer.readSlice(length: consumed)!, to: owner)
            if chunked.isDone { finishResponse(leftover: buffer.readableBytes) }
        case .untilClose:
            emit(buffer, to: owner)
        }
    }

    /// Sends body bytes, in one slice with the held-back head when they directly follow it.
    private func emit(_ slice: ByteBuffer, to owner: ClientConnection) {
        if let head = pendingHead, let whole = pendingWhole {
            pendingHead = nil
            pendingWhole = nil
            if let combined = whole.getSlice(at: whole.readerIndex, length: head.readableBytes + slice.readableBytes) {
                owner.upstreamBody(combined)
                return
            }
            owner.upstreamBody(head)
        }
        owner.upstreamBody(slice)
    }

    private func emitPendingHead() {
        guard let head = pendingHead else { return }
        pendingHead = nil
        pendingWhole = nil
        owner?.upstreamBody(head)
    }

    private func finishResponse(leftover: Int) {
        emitPendingHead()
        // Bytes after the end of a response mean the server broke framing: do not reuse.
        if leftover > 0 { reusable = false }
        let owner = self.owner
        state = .idle
        input = nil
        self.owner = nil
        owner?.upstreamResponseEnd(from: self)
    }

    private func fail(_ failure: UpstreamFailure) {
        let owner = self.owner
        self.owner = nil
        state = .closed
        reusable = false
        context?.close(promise: nil)
        owner?.upstreamFailed(failure, from: self)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        owner?.flushToClient()
    }

    func channelInactive(context: ChannelHandlerContext) {
        reusable = false
        switch state {
        case .body(.untilClose):
            finishResponse(leftover: 0)
        case .awaitingHead:
            fail(sawResponseBytes ? .closedMidResponse : .closedBeforeResponse)
        case .body:
            fail(.closedMidResponse)
        case .idle, .closed:
            state = .closed
        }
        self.context = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.upstreamWritabilityChanged(writable: context.channel.isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
