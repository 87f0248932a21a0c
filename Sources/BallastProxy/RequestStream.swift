import BallastConfig
import NIOCore

/// The request side of a client connection without its sockets.
///
/// It runs a byte stream through the parts `ClientConnection` uses (the head parser, the
/// chunked framing, the routes and the balancers) and says what the balancer makes of it:
/// which requests it holds, where each one ends, where each would go, and what is refused.
/// Where a request ends is what keeps a kept-alive server connection in step, so the fuzzer
/// checks that this answer does not depend on how the bytes are split into reads.
///
/// Unlike a connection it applies no rate limit, no timeout and no retry, and sends nothing.
public struct RequestStream {
    public enum Event: Sendable, Equatable, CustomStringConvertible {
        /// A request head accepted and forwarded as `head` (its raw bytes), with its framing
        /// ("none", "length N", "chunked"), and where it goes (nil without a runtime).
        case request(head: [UInt8], method: String, target: String, framing: String, close: Bool,
                     route: String?, server: String?)
        /// Body bytes forwarded to the server, summed over the reads they came in.
        case body(Int)
        /// The request's body is complete.
        case end
        /// Answered locally with this status; `close` when the connection ends with it.
        case refused(status: Int, reason: String, close: Bool)

        public var description: String {
            switch self {
            case .request(let head, let method, let target, let framing, let close, let route, let server):
                "request \(method) \(target) (\(head.count) head bytes, \(framing)\(close ? ", close" : ""))"
                    + (route.map { " route \($0)" } ?? "") + (server.map { " server \($0)" } ?? "")
            case .body(let n): "body \(n)"
            case .end: "end"
            case .refused(let status, let reason, let close): "refused \(status) \(reason)\(close ? ", close" : "")"
            }
        }
    }

    public private(set) var events: [Event] = []
    /// The connection is closed: nothing more is read.
    public private(set) var closed = false
    private var parser: RequestHeadParser
    private let maxBodyBytes: Int
    private let listener: ListenerRuntime?
    private let peerIP: String
    private var input: ByteBuffer?
    private var spareFields: [HeaderField] = []
    private var chunked: ChunkedFraming?
    private var bodyRemaining = 0
    private var inBody = false
    private var closeAfterBody = false

    /// A stream parsed with `limits` and routed nowhere.
    public init(limits: Limits) {
        parser = RequestHeadParser(maxHeadBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
        maxBodyBytes = limits.maxBodyBytes
        listener = nil
        peerIP = "192.0.2.1"
    }

    /// A stream arriving on `listener` of `runtime`, routed and balanced as that listener does.
    public init?(runtime: ProxyRuntime, listener name: String, peerIP: String = "192.0.2.1") {
        guard let listener = runtime.listeners[name] else { return nil }
        let limits = listener.config.limits
        parser = RequestHeadParser(maxHeadBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
        maxBodyBytes = limits.maxBodyBytes
        self.listener = listener
        self.peerIP = peerIP
    }

    /// Reads `bytes` as the next read from the client.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        guard !closed, !bytes.isEmpty else { return }
        if input == nil { input = ByteBuffer() }
        input!.writeBytes(bytes)
        process()
        if input?.readableBytes == 0 { input = nil }
    }

    private mutating func process() {
        while !closed, let readable = input?.readableBytes, readable > 0 {
            if inBody {
                consumeBody()
                continue
            }
            let head: RequestHead?
            do {
                head = try parser.parse(&input!, reusing: &spareFields)
            } catch {
                refuse(error.status, error.reason, close: true)
                return
            }
            guard let head else { return }
            start(head)
        }
    }

    private mutating func start(_ head: RequestHead) {
        var routeName: String?
        var serverName: String?
        if let listener {
            guard let route = listener.route(method: head.method, path: head.path, host: head.host) else {
                spareFields = head.fields
                refuse(404, "no route matches \(head.method) \(head.path)", close: head.hasBody || head.wantsClose)
                return
            }
            routeName = route.config.name
            let upstream = route.upstream
            let key = upstream.config.balance == .consistentHash ? upstream.config.hashOn.flatMap { head.hashKey($0, peerIP: peerIP) } : nil
            serverName = upstream.balancers[0].value.pick(hashKey: key, now: 0)?.address.description
        }
        let framing: String
        switch head.framing {
        case .contentLength(let n) where n > 0:
            framing = "length \(n)"
            bodyRemaining = n
            inBody = true
        case .chunked:
            framing = "chunked"
            chunked = ChunkedFraming(limit: maxBodyBytes, stripsTrailers: true)
            inBody = true
        default:
            framing = "none"
        }
        let bytes = head.bytes.getBytes(at: head.bytes.readerIndex, length: head.bytes.readableBytes) ?? []
        events.append(.request(head: bytes, method: head.method, target: head.target, framing: framing, close: head.wantsClose,
                               route: routeName, server: serverName))
        closeAfterBody = head.wantsClose
        spareFields = head.fields
        if !inBody { finishRequest() }
    }

    private mutating func consumeBody() {
        let taken: Int
        if var framing = chunked {
            do {
                taken = try input!.withUnsafeReadableBytes { raw throws(ChunkedFraming.Failure) in try framing.consume(raw) }
            } catch {
                let tooLarge = error == .tooLarge || error == .framingTooLarge
                refuse(tooLarge ? 413 : 400, tooLarge ? "request body is too large" : "invalid chunked request body", close: true)
                return
            }
            chunked = framing
            input!.moveReaderIndex(forwardBy: taken)
            // As the handler: trailers are dropped and the body ends with a bare CRLF.
            addBody(framing.forwardable + (framing.isDone ? ChunkedFraming.finalCRLF.count : 0))
            if framing.isDone { finishRequest() }
        } else {
            taken = min(bodyRemaining, input!.readableBytes)
            bodyRemaining -= taken
            input!.moveReaderIndex(forwardBy: taken)
            addBody(taken)
            if bodyRemaining == 0 { finishRequest() }
        }
    }

    private mutating func addBody(_ n: Int) {
        guard n > 0 else { return }
        if case .body(let before) = events.last {
            events[events.count - 1] = .body(before + n)
        } else {
            events.append(.body(n))
        }
    }

    private mutating func finishRequest() {
        events.append(.end)
        inBody = false
        chunked = nil
        if closeAfterBody { closed = true }
    }

    private mutating func refuse(_ status: Int, _ reason: String, close: Bool) {
        events.append(.refused(status: status, reason: reason, close: close))
        if close { closed = true }
    }
}
