/// nginx's `lingering_close`: after an answer sent before the request was read to its end
/// (413, 431, 400, 408), the connection is not closed at once. Closing a socket with unread
/// bytes, or while the client is still sending, makes the kernel send RST, and a client that
/// gets RST loses the answer it had not read yet. So the balancer half-closes (the client sees
/// the answer end), then reads and drops what the client still sends, and closes when the
/// client closes, falls quiet, or has sent too much or for too long.
struct LingeringClose: Equatable {
    struct Policy: Equatable {
        /// At most this long in all (nginx's `lingering_time`, there 30 s).
        var total: Int64 = 10_000_000_000
        /// Closed when nothing arrives for this long (nginx's `lingering_timeout`, there 5 s).
        var quiet: Int64 = 2_000_000_000
        /// Closed after dropping this many bytes.
        var maxBytes = 32 << 20
        static let standard = Policy()
    }

    enum Decision: Equatable { case keepDraining, close }

    let policy: Policy
    let started: Int64
    private(set) var lastRead: Int64
    private(set) var dropped = 0

    init(now: Int64, policy: Policy = .standard) {
        self.policy = policy
        started = now
        lastRead = now
    }

    /// The client sent `bytes` more, which are dropped.
    mutating func received(_ bytes: Int, now: Int64) -> Decision {
        dropped += bytes
        lastRead = now
        return dropped > policy.maxBytes || now - started >= policy.total ? .close : .keepDraining
    }

    /// When the connection must be closed if nothing else happens.
    var deadline: Int64 { min(started + policy.total, lastRead + policy.quiet) }
}
