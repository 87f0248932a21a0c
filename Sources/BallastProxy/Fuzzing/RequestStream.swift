import BallastConfig
import NIOCore

/// The request side of a client connection without its sockets.
///
/// It runs a byte stream through the parts `ClientConnection` uses (its `RequestFraming`,
/// `RequestAdmission` for routes and refusals, `ExchangeState` for where an exchange ends and
/// whether the connection closes after it, and the balancers) and says what the balancer makes of it:
/// which requests it holds, where each one ends, where each would go, and what is refused.
/// Where a request ends is what keeps a kept-alive server connection in step, so the fuzzer
/// checks that this answer does not depend on how the bytes are split into reads.
///
/// Unlike a connection it applies no rate limit, no timeout and no retry, and sends nothing.
package struct RequestStream {
    package enum Event: Sendable, Equatable, CustomStringConvertible {
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

        package var description: String {
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

    package private(set) var events: [Event] = []
    /// The connection is closed: nothing more is read.
    package private(set) var closed = false
    private var requests: RequestFraming
    private let listener: ListenerRuntime?
    private let peerIP: String
    /// The request whose body is being read.
    private var exchange: ExchangeState?

    /// A stream parsed with `limits` and routed nowhere.
    package init(limits: Limits) {
        requests = RequestFraming(maxHeadBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
        listener = nil
        peerIP = "192.0.2.1"
    }

    /// A stream arriving on `listener` of `runtime`, routed and balanced as that listener does.
    package init?(runtime: ProxyRuntime, listener name: String, peerIP: String = "192.0.2.1") {
        guard let listener = runtime.listeners[name] else { return nil }
        let limits = listener.config.limits
        requests = RequestFraming(maxHeadBytes: limits.maxHeaderBytes, maxBodyBytes: limits.maxBodyBytes)
        self.listener = listener
        self.peerIP = peerIP
    }

    /// Reads `bytes` as the next read from the client.
    package mutating func feed(_ bytes: some Collection<UInt8>) {
        guard !closed, !bytes.isEmpty else { return }
        var buffer = ByteBuffer(bytes: Array(bytes))
        requests.append(&buffer)
        process()
    }

    /// Takes steps as `ClientConnection` does when every request is answered at once.
    private mutating func process() {
        while !closed, requests.hasInput || requests.inBody {
            if requests.inBody {
                switch requests.nextBody() {
                case .body(let slice): addBody(slice.readableBytes)
                case .end: finishRequest()
                case .bodyFailed(let status, _, let message): refuse(status, message, close: true)
                default: return
                }
                continue
            }
            switch requests.nextHead() {
            case .head(let head): start(head)
            case .refused(let error): return refuse(error.status, error.reason, close: true)
            default: return
            }
        }
    }

    private mutating func start(_ head: RequestHead) {
        defer { requests.recycle(head.fields) }
        var routeName: String?
        var serverName: String?
        var policy = ExchangeState.Policy(upstream: "", attempts: 0, retryOn: [], pipelineDepth: 1)
        if let listener {
            let route: RouteRuntime
            switch RequestAdmission.route(method: head.method, path: head.path, host: head.host, hasBody: head.hasBody,
                                          wantsClose: head.wantsClose, listener: listener, canary: nil) {
            case .route(let found, _): route = found
            case .refused(let refusal): return refuse(refusal.status, refusal.message, close: refusal.close)
            }
            // The same upgrade decision (the model server answers 200, never 101: no tunnel here).
            if case .refused(let refusal) = RequestAdmission.upgrade(head.upgrade, route: route, hasBody: head.hasBody) {
                return refuse(refusal.status, refusal.message, close: refusal.close)
            }
            routeName = route.config.name
            policy = route.policy
            let upstream = route.upstream
            let key = upstream.config.balance == .consistentHash ? upstream.config.hashOn.flatMap { head.hashKey($0, peerIP: peerIP) } : nil
            serverName = upstream.balancers[0].value.pick(hashKey: key, now: 0)?.address.description
        }
        let framing: String
        switch head.framing {
        case .contentLength(let n) where n > 0: framing = "length \(n)"
        case .chunked: framing = "chunked"
        default: framing = "none"
        }
        let bytes = head.bytes.getBytes(at: head.bytes.readerIndex, length: head.bytes.readableBytes) ?? []
        events.append(.request(head: bytes, method: head.method, target: head.target, framing: framing, close: head.wantsClose,
                               route: routeName, server: serverName))
        exchange = ExchangeState(policy: policy, idempotent: head.isIdempotent, hasBody: head.hasBody,
                                 requestComplete: !requests.inBody, closeAfter: head.wantsClose, isCanary: false)
        if !requests.inBody { finishRequest() }
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
        guard var state = exchange else { return }
        exchange = nil
        // Answered at once, after the request: a kept-alive 200 from the server.
        _ = state.requestEnded()
        _ = state.responseHead(status: 200, shedsLoad: false, untilClose: false, needsRewrite: false, http10Client: false,
                               budgetAllows: false)
        _ = state.responseEnded()
        if state.closeAfter { closed = true }
    }

    private mutating func refuse(_ status: Int, _ reason: String, close: Bool) {
        events.append(.refused(status: status, reason: reason, close: close))
        if close { closed = true }
    }
}
