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
    /// The client connection whose response this connection is reading.
    private(set) var owner: ClientConnection?
    /// Requests written behind the owner's (pipelining), answered in this order.
    private var queued = CircularBuffer<Queued>(initialCapacity: 0)
    private struct Queued {
        /// Nil once its client has left: the response is read and dropped.
        var owner: ClientConnection?
        let isHead: Bool
    }
    /// Reading a response whose client has left (it was pipelined behind another).
    private var discarding = false
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

    /// Set when the request being written may have others pipelined behind it (bodiless,
    /// idempotent); cleared when a new first request begins.
    var acceptsPipelining = false

    /// Serving a request, possibly of another client (pipelined): not to be pooled yet.
    var isBusy: Bool { owner != nil || discarding }

    /// Whether one more request may be written behind those in flight. Only while the earlier
    /// ones still sit in the write buffer of this loop tick: a request never waits behind a
    /// response the server is already working on, only beside requests that arrived with it.
    func canPipeline(depth: Int) -> Bool {
        guard acceptsPipelining, flushQueued, reusable, owner != nil, 1 + queued.count < depth, let context, context.channel.isActive
        else { return false }
        return true
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    // MARK: Exchange

    /// Starts an exchange: the caller writes the request next.
    func begin(owner: ClientConnection, isHead: Bool) {
        exchanges += 1
        if isBusy {
            queued.append(Queued(owner: owner, isHead: isHead))
            return
        }
        self.owner = owner
        acceptsPipelining = false
        state = .awaitingHead
        requestIsHead = isHead
        sawResponseBytes = false
        // A previous client's back-pressure does not carry over (its response may have ended
        // in the read that paused it).
        if readsPaused { resumeReads() }
    }

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    var flushQueued = false

    func flushNow() { context?.flush() }

    /// Marks the connection as not to be pooled (the exchange ended abnormally).
    func poison() { reusable = false }

    /// Closes the connection; the other clients with a request on it (pipelined) hear of it
    /// as a failure and retry. `client` is the caller, which already knows.
    func close(by client: ClientConnection? = nil) {
        let current = owner
        state = .closed
        reusable = false
        owner = nil
        discarding = false
        context?.close(promise: nil)
        if let current, current !== client { current.upstreamFailed(sawResponseBytes ? .closedMidResponse : .closedBeforeResponse, from: self) }
        failQueued(except: client)
    }

    /// `client` leaves before its response ended. A request still waiting in a pipeline keeps
    /// its place and its response is dropped, so a client that hangs up cannot cut the response
    /// of another; otherwise the connection closes (the requests behind are retried).
    func leave(by client: ClientConnection) {
        if owner === client {
            close(by: client)
        } else if let index = queued.firstIndex(where: { $0.owner === client }) {
            queued[index].owner = nil
        }
    }

    private func failQueued(except client: ClientConnection? = nil) {
        while let next = queued.popFirst() {
            if let owner = next.owner, owner !== client { owner.upstreamFailed(.closedBeforeResponse, from: self) }
        }
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
        guard isBusy else {
            // A server talking while idle has broken framing: never reuse it.
            close()
            return
        }
        defer { emitPendingHead() }
        // One read may hold the ends of several pipelined responses.
        while isBusy, readResponse(&buffer, owner: owner), buffer.readableBytes > 0 {}
    }

    /// Reads `owner`'s response from `buffer`; true when it ended with bytes left for the next.
    private func readResponse(_ buffer: inout ByteBuffer, owner: ClientConnection?) -> Bool {
        sawResponseBytes = true
        while case .awaitingHead = state {
            if input == nil { input = buffer } else { input!.writeBuffer(&buffer) }
            let whole = input!
            let parsed: ResponseHead?
            do {
                parsed = try ResponseHeadParser.parse(&input!, requestMethodIsHead: requestIsHead, maxHeadBytes: 65_536,
                                                     reusing: &spareFields)
            } catch {
                fail(.malformedResponse(error.reason))
                return false
            }
            guard let head = parsed else { return false }
            buffer = input!
            input = nil
            // The head's fields are only read before this call returns; the storage comes back
            // for the next response once `head` is released.
            defer { spareFields = head.fields }
            if head.isInterim {
                // 100 Continue and friends: pass on, then wait for the final head.
                owner?.upstreamInterimResponse(head.bytes)
                continue
            }
            if head.serverCloses { reusable = false }
            state = .body(head.framing)
            switch head.framing {
            case .contentLength(let n): remaining = n
            case .chunked: chunked = ChunkedFraming()
            default: break
            }
            switch owner?.upstreamResponseHead(head, from: self) ?? .written {
            case .abandoned:
                return false
            case .written:
                break
            case .verbatim:
                pendingHead = head.bytes
                pendingWhole = whole
            }
            if case .none = head.framing {
                return finishResponse(leftover: buffer.readableBytes)
            }
        }
        guard case .body(let framing) = state else { return false }
        return forwardBody(&buffer, framing: framing, to: owner)
    }

    private func forwardBody(_ buffer: inout ByteBuffer, framing: BodyFraming, to owner: ClientConnection?) -> Bool {
        guard buffer.readableBytes > 0 else {
            if case .contentLength = framing, remaining == 0 { return finishResponse(leftover: 0) }
            return false
        }
        switch framing {
        case .none:
            return finishResponse(leftover: buffer.readableBytes)
        case .contentLength:
            let take = min(remaining, buffer.readableBytes)
            remaining -= take
            emit(buffer.readSlice(length: take)!, to: owner)
            if remaining == 0 { return finishResponse(leftover: buffer.readableBytes) }
        case .chunked:
            let consumed: Int
            do {
                consumed = try buffer.withUnsafeReadableBytes { raw throws(ChunkedFraming.Failure) in try chunked.consume(raw) }
            } catch {
                fail(.malformedResponse("invalid chunked framing from server"))
                return false
            }
            emit(buffer.readSlice(length: consumed)!, to: owner)
            if chunked.isDone { return finishResponse(leftover: buffer.readableBytes) }
        case .untilClose:
            emit(buffer, to: owner)
        }
        return false
    }

    /// Sends body bytes, in one slice with the held-back head when they directly follow it.
    private func emit(_ slice: ByteBuffer, to owner: ClientConnection?) {
        guard let owner else { return }
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

    /// Ends the owner's response and moves on to the next pipelined request, if any. True when
    /// `leftover` bytes belong to that next response.
    private func finishResponse(leftover: Int) -> Bool {
        emitPendingHead()
        let done = self.owner
        input = nil
        let more: Bool
        if let next = queued.popFirst() {
            owner = next.owner
            discarding = next.owner == nil
            requestIsHead = next.isHead
            state = .awaitingHead
            sawResponseBytes = false
            more = leftover > 0
        } else {
            // Bytes after the end of a response mean the server broke framing: do not reuse.
            if leftover > 0 { reusable = false }
            owner = nil
            state = .idle
            more = false
            if discarding {
                // The last response had no client to give the connection back to the pool.
                discarding = false
                close()
                return false
            }
        }
        done?.upstreamResponseEnd(from: self)
        // Back-pressure follows the client now being answered.
        if let owner, !owner.isClientWritable { readsPaused = true } else { resumeReads() }
        return more && isBusy
    }

    private func fail(_ failure: UpstreamFailure) {
        let owner = self.owner
        self.owner = nil
        discarding = false
        state = .closed
        reusable = false
        context?.close(promise: nil)
        owner?.upstreamFailed(failure, from: self)
        failQueued()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        owner?.flushToClient()
    }

    func channelInactive(context: ChannelHandlerContext) {
        reusable = false
        switch state {
        case .body(.untilClose):
            // The close ends this response; pipelined requests behind it were never answered.
            _ = finishResponse(leftover: 0)
            if isBusy { fail(.closedBeforeResponse) }
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
