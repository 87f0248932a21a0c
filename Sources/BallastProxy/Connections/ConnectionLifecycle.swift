/// The phase of one client connection, its deadline, and when it reads (pure; the handler,
/// `ClientConnection`, does the I/O; `ConnectionLifecycleTests`).
///
/// ```
/// idle ──bytes──► readingHead ──head──► handling ──request written──► awaitingResponse
///  ▲                                       │  ▲ retry                        │ response head
///  └────────────── exchange ends ◄─────────┴──┴────────── streaming ◄───────┘
/// an early answer ──► lingering ──client EOF, quiet or cap──► closed
/// a server's 101 ──► tunnel ──either side closes, idle, max duration──► closed
/// ```
/// Each phase has one deadline (`timeouts.idle`, `timeouts.client_header`, the route's response
/// timeout, `timeouts.stall`, `LingeringClose`); `handling` has none of its own (a connect has
/// its connect timeout). One sweep per loop tick asks `expiry` what a passed deadline means.
struct ConnectionLifecycle {
    enum Phase: Equatable {
        /// Between requests, nothing buffered.
        case idle
        /// Part of a request head is here.
        case readingHead
        /// A request is being routed, connected, retried or answered locally.
        case handling
        /// The request went to a server; no response head yet.
        case awaitingResponse
        /// The response is under way; it must keep moving.
        case streaming
        /// An answer went out before the request was read to its end: the rest is read and dropped.
        case lingering
        /// Upgraded (`TunnelState`): bytes flow both ways; the tunnel's own clock sets the deadline.
        case tunnel
        case closed
    }

    /// What a deadline that passed means.
    enum Expiry: Equatable {
        case none
        /// Close (idle keep-alive, or lingering over).
        case close
        /// 408: the request head did not arrive in time.
        case headTimedOut
        /// The server did not answer in time (504, or a retry).
        case responseTimedOut
        /// The response stopped moving.
        case responseStalled
        /// The tunnel's deadline passed: ask `TunnelState.expiry` whether it is over.
        case tunnelDeadline
    }

    /// What the connection is waiting on when it decides whether to read more.
    enum Demand: Equatable {
        /// No exchange: the next request.
        case nextRequest
        /// The request is whole and waits for its response: pipelined requests may queue, up
        /// to the head limit (holding reads would cost an epoll change per request).
        case response(buffered: Int, limit: Int)
        /// Body bytes go to the server connection when it is writable, else wait (64 KiB at most).
        case body(serverWritable: Bool?, pending: Int)
        /// A tunnel's bytes go to the server connection when it is writable.
        case tunnel(serverWritable: Bool)
    }

    /// The durations of the listener in force, in nanoseconds.
    struct Timeouts: Equatable {
        var idle: Int64
        var header: Int64
        var stall: Int64
    }

    private(set) var phase: Phase = .idle
    /// When `expiry` stops answering `.none` (`.max`: never).
    private(set) var deadline: Int64 = .max
    private(set) var lingering: LingeringClose?
    /// The client half-closed: what it sent is answered, then the connection closes.
    var inputClosed = false
    /// SIGTERM: the exchange in flight finishes, then the connection closes.
    private(set) var draining = false

    /// Closed or lingering: no request is read or answered any more.
    var isClosing: Bool { phase == .closed || phase == .lingering }

    /// Moves to `phase` with its deadline; `responseTimeout` is the route's, for `awaitingResponse`.
    mutating func enter(_ phase: Phase, now: Int64, timeouts: Timeouts, responseTimeout: Int64 = 0) {
        guard !isClosing else { return }
        self.phase = phase
        switch phase {
        case .idle: deadline = now + timeouts.idle
        case .readingHead: deadline = now + timeouts.header
        case .awaitingResponse: deadline = now + responseTimeout
        case .streaming: deadline = now + timeouts.stall
        case .handling, .lingering, .tunnel, .closed: deadline = .max
        }
    }

    /// Becomes (or stays) a tunnel until `deadline` (`TunnelState.deadline`).
    mutating func tunnel(until deadline: Int64) {
        guard !isClosing else { return }
        phase = .tunnel
        self.deadline = deadline
    }

    /// A streaming response moved (bytes from the server, or the client read some): its stall
    /// deadline starts again.
    @inline(__always)
    mutating func progressed(now: Int64, timeouts: Timeouts) {
        if phase == .streaming { deadline = now + timeouts.stall }
    }

    /// After an early answer: drop what the client still sends (`LingeringClose`).
    mutating func startLingering(now: Int64) {
        let linger = LingeringClose(now: now)
        lingering = linger
        phase = .lingering
        deadline = linger.deadline
    }

    /// While lingering, the client sent `bytes` more; true when it is time to close.
    mutating func lingerReceived(_ bytes: Int, now: Int64) -> Bool {
        guard var linger = lingering else { return false }
        let decision = linger.received(bytes, now: now)
        lingering = linger
        deadline = linger.deadline
        return decision == .close
    }

    mutating func close() {
        phase = .closed
        deadline = .max
        lingering = nil
    }

    mutating func drain() { draining = true }

    /// What the passed deadline means at `now`.
    func expiry(now: Int64) -> Expiry {
        guard now >= deadline else { return .none }
        switch phase {
        case .idle, .lingering: return .close
        case .readingHead: return .headTimedOut
        case .awaitingResponse: return .responseTimedOut
        case .streaming: return .responseStalled
        case .tunnel: return .tunnelDeadline
        case .handling, .closed: return .none
        }
    }

    /// Whether more client bytes are taken now (back-pressure).
    func wantsInput(_ demand: Demand) -> Bool {
        if phase == .lingering { return !inputClosed }
        guard !isClosing, !inputClosed else { return false }
        switch demand {
        case .nextRequest: return true
        case .response(let buffered, let limit): return buffered <= limit
        case .body(let serverWritable?, _): return serverWritable
        case .body(nil, let pending): return pending < 65_536
        case .tunnel(let serverWritable): return serverWritable
        }
    }
}
