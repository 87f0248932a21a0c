import NIOCore
import Synchronization

/// Why an exchange with a server failed, which decides retry and status.
enum UpstreamFailure: Error, Equatable {
    /// The connection closed or reset before any response byte: safe to retry when idempotent.
    case closedBeforeResponse
    case closedMidResponse
    case malformedResponse(String)
}

/// What became of a response head handed to the client side.
enum HeadDisposition {
    /// The exchange will not read this response (retried or gone).
    case abandoned
    /// A rewritten head was written to the client.
    case written
    /// The head goes out as received; the server connection sends it with the body bytes.
    case verbatim
    /// A 101 was written: from now on the connection's bytes go to the client as they come.
    case tunnel
}

/// What a server connection tells the client side whose exchange it serves, in the order a
/// response happens: interim heads, the final head, body slices, then the end (or a failure).
/// `ClientConnection` is the one in production; tests put a recorder here to run an
/// `UpstreamConnection` on an `EmbeddedChannel`.
protocol UpstreamClient: AnyObject {
    /// A 1xx head (not 101), to pass on as it is.
    func upstreamInterimResponse(_ bytes: ByteBuffer)
    /// The final head; the answer says who writes it.
    func upstreamResponseHead(_ head: ResponseHead, from connection: UpstreamConnection) -> HeadDisposition
    /// Response bytes to write to the client (a held-back head included).
    func upstreamBody(_ slice: ByteBuffer)
    /// The response ended; the connection serves the next request in its pipeline, if any.
    func upstreamResponseEnd(from connection: UpstreamConnection)
    /// The exchange failed on this connection; the connection is closed.
    func upstreamFailed(_ failure: UpstreamFailure, from connection: UpstreamConnection)
    /// The server connection's write buffer crossed a watermark (request body back-pressure).
    func upstreamWritabilityChanged(writable: Bool)
    /// The end of a read from the server: what was written may be flushed.
    func flushToClient()
    /// Whether the client takes more now (response back-pressure).
    var isClientWritable: Bool { get }
    /// After a 101: bytes from the server, to pass on untouched.
    func upstreamTunnel(_ bytes: ByteBuffer)
    /// After a 101: the server closed the connection.
    func upstreamTunnelClosed(from connection: UpstreamConnection)
}

extension UpstreamClient {
    func upstreamTunnel(_ bytes: ByteBuffer) {}
    func upstreamTunnelClosed(from connection: UpstreamConnection) {}
}

/// One connection to a server: reads its responses and hands them to the client connection
/// that owns the exchange. Lives on the same event loop as that client connection.
final class UpstreamConnection: ChannelDuplexHandler, DeferredFlush {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let server: ServerTarget
    private(set) var context: ChannelHandlerContext?
    /// Where the current response is (`ResponseFraming`).
    private var framing = ResponseFraming()
    /// The client connection whose response this connection is reading.
    private(set) var owner: (any UpstreamClient)?
    /// Requests written behind the owner's (pipelining), answered in this order.
    private var queued = CircularBuffer<Queued>(initialCapacity: 0)
    private struct Queued {
        /// Nil once its client has left: the response is read and dropped.
        var owner: (any UpstreamClient)?
        let isHead: Bool
    }
    /// Reading a response whose client has left (it was pipelined behind another).
    private var discarding = false
    var idleDeadline: Int64 = 0
    /// Requests served before this one; a failure on a reused connection may be a stale close.
    private(set) var exchanges = 0
    /// A head to be forwarded as received, held back so it can leave in one slice with the
    /// body bytes that follow it in the same read (one write instead of two), and the read's
    /// bytes from the head on, which that combined slice is cut from.
    private var pendingHead: ByteBuffer?
    private var pendingWhole: ByteBuffer?
    private var pendingRead = false
    var readsPaused = false
    private var reusable = true
    /// After a 101: no more HTTP, the bytes go to the owner as they come (`TunnelState`).
    private(set) var tunneling = false

    init(server: ServerTarget) { self.server = server }

    var isUsable: Bool {
        guard let context, context.channel.isActive, reusable else { return false }
        return framing.phase == .idle
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

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        server.state.connections.wrappingAdd(1, ordering: .relaxed)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        server.state.connections.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: Exchange

    /// Starts an exchange: the caller writes the request next.
    func begin(owner: any UpstreamClient, isHead: Bool) {
        exchanges += 1
        if isBusy {
            queued.append(Queued(owner: owner, isHead: isHead))
            return
        }
        self.owner = owner
        acceptsPipelining = false
        framing.expectResponse(toHead: isHead)
        // A previous client's back-pressure does not carry over (its response may have ended
        // in the read that paused it).
        if readsPaused { resumeReads() }
    }

    func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    var flushQueued = false

    func flushNow() { context?.flush() }

    /// A tunnel's client sent its EOF: the server gets it too, and may still answer.
    func closeOutput() {
        context?.close(mode: .output, promise: nil)
    }

    /// Marks the connection as not to be pooled (the exchange ended abnormally).
    func poison() { reusable = false }

    /// Closes the connection; the other clients with a request on it (pipelined) hear of it
    /// as a failure and retry. `client` is the caller, which already knows.
    func close(by client: (any UpstreamClient)? = nil) {
        let current = owner
        let sawResponseBytes = framing.sawResponseBytes
        framing.close()
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
    func leave(by client: any UpstreamClient) {
        if owner === client {
            close(by: client)
        } else if let index = queued.firstIndex(where: { $0.owner === client }) {
            queued[index].owner = nil
        }
    }

    private func failQueued(except client: (any UpstreamClient)? = nil) {
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
        if tunneling {
            owner?.upstreamTunnel(buffer)
            return
        }
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
    private func readResponse(_ buffer: inout ByteBuffer, owner: (any UpstreamClient)?) -> Bool {
        while true {
            switch framing.next(&buffer) {
            case .needMore:
                return false
            case .interim(let head):
                // 100 Continue and friends: pass on, then wait for the final head.
                owner?.upstreamInterimResponse(head.bytes)
                framing.recycle(head.fields)
            case .head(let head, let whole):
                // The head's fields are only read in this call; the storage comes back for the
                // next response once `head` is released.
                defer { framing.recycle(head.fields) }
                if head.serverCloses { reusable = false }
                switch owner?.upstreamResponseHead(head, from: self) ?? .written {
                case .abandoned:
                    return false
                case .written:
                    break
                case .verbatim:
                    pendingHead = head.bytes
                    pendingWhole = whole
                case .tunnel:
                    // What followed the 101 in this read is already the new protocol's.
                    tunneling = true
                    reusable = false
                    framing.close()
                    failQueued()
                    if buffer.readableBytes > 0 { owner?.upstreamTunnel(buffer) }
                    buffer.moveReaderIndex(to: buffer.writerIndex)
                    return false
                }
            case .body(let slice):
                emit(slice, to: owner)
            case .end:
                return finishResponse(leftover: buffer.readableBytes)
            case .failed(let why):
                fail(.malformedResponse(why))
                return false
            }
        }
    }

    /// Sends body bytes, in one slice with the held-back head when they directly follow it.
    private func emit(_ slice: ByteBuffer, to owner: (any UpstreamClient)?) {
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
        let more: Bool
        if let next = queued.popFirst() {
            owner = next.owner
            discarding = next.owner == nil
            framing.expectResponse(toHead: next.isHead)
            more = leftover > 0
        } else {
            // Bytes after the end of a response mean the server broke framing: do not reuse.
            if leftover > 0 { reusable = false }
            owner = nil
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
        framing.close()
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
        if tunneling {
            self.context = nil
            let owner = self.owner
            self.owner = nil
            owner?.upstreamTunnelClosed(from: self)
            return
        }
        let sawResponseBytes = framing.sawResponseBytes
        switch framing.serverClosed() {
        case .end?:
            // The close ends this response; pipelined requests behind it were never answered.
            _ = finishResponse(leftover: 0)
            if isBusy { fail(.closedBeforeResponse) }
        case .failed?:
            fail(sawResponseBytes ? .closedMidResponse : .closedBeforeResponse)
        default:
            break
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
