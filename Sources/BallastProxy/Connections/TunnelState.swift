/// An upgraded connection (a WebSocket, or any protocol a route's `upgrades` lists) after the
/// server's 101: bytes flow both ways as they come, until either side closes or a timeout ends
/// it (pure; `ClientConnection` moves the bytes; `TunnelStateTests`).
///
/// ```
/// request with Upgrade ──route allows it──► forwarded with `Connection: upgrade`
///   server 101 ──► tunnel ──client or server closes, idle, max duration, shutdown──► closed
///   any other answer ──► an ordinary response
/// ```
struct TunnelState: Equatable {
    /// Why a tunnel ended: the label of `ballast_tunnels_closed_total`.
    enum CloseCause: String, CaseIterable, Sendable {
        case client, server, idle
        case maxDuration = "max_duration"
        /// The balancer shut down and the drain period ended.
        case shutdown
        /// Either connection failed.
        case error
    }

    let start: Int64
    private(set) var lastActivity: Int64
    let idleTimeout: Int64
    let maxDuration: Int64
    private(set) var bytesFromClient = 0
    private(set) var bytesFromServer = 0
    /// The client half-closed: its EOF went on to the server, whose bytes still flow back.
    private(set) var clientDone = false

    init(now: Int64, idleTimeout: Int64, maxDuration: Int64) {
        start = now
        lastActivity = now
        self.idleTimeout = idleTimeout
        self.maxDuration = maxDuration
    }

    /// When the tunnel ends if nothing moves before: the earlier of idle and maximum duration.
    var deadline: Int64 {
        let (idleEnd, idleOverflow) = lastActivity.addingReportingOverflow(idleTimeout)
        let (maxEnd, maxOverflow) = start.addingReportingOverflow(maxDuration)
        return min(idleOverflow ? .max : idleEnd, maxOverflow ? .max : maxEnd)
    }

    mutating func fromClient(_ bytes: Int, now: Int64) {
        bytesFromClient += bytes
        lastActivity = now
    }

    mutating func fromServer(_ bytes: Int, now: Int64) {
        bytesFromServer += bytes
        lastActivity = now
    }

    mutating func clientClosedInput() { clientDone = true }

    /// Whether the tunnel must end at `now`, and why; nil while bytes moved recently enough.
    func expiry(now: Int64) -> CloseCause? {
        if now - start >= maxDuration { return .maxDuration }
        if now - lastActivity >= idleTimeout { return .idle }
        return nil
    }

    /// What a server's 101 means for an exchange.
    enum Switch: Equatable {
        /// Not a 101: an ordinary response.
        case none
        /// The request asked for it: the connection becomes a tunnel.
        case tunnel
        /// A 101 nobody asked for: the server broke HTTP (a request-smuggling vector), so it
        /// counts as its failure and the client gets 502.
        case unasked
    }

    static func switching(status: Int, asked: Bool) -> Switch {
        guard status == 101 else { return .none }
        return asked ? .tunnel : .unasked
    }
}
