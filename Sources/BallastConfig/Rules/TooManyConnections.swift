#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Connection limits beyond the file descriptors the process may open: the balancer fails
/// with EMFILE under load instead of answering 503 at its limit. Each client connection may
/// need a server connection too. The balancer raises its soft limit up to the hard limit at
/// start (as HAProxy does from `maxconn`), so the hard limit is what counts.
struct TooManyConnections: LintRule {
    static let rule = Rule(id: "BL032", severity: .warning, title: "connection limits beyond the file descriptor limit",
                           fix: "lower `limits.max_connections` or raise `ulimit -n`")

    static func check(_ config: Config) -> [Finding] {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return [] }
        let total = config.listeners.reduce(0) { $0 + $1.limits.maxConnections }
        guard total * 2 + FileDescriptorLimit.reserved > Int(clamping: limit.rlim_max) else { return [] }
        let largest = config.listeners.indices.max { config.listeners[$0].limits.maxConnections < config.listeners[$1].limits.maxConnections }
        return [finding(
            "listeners allow \(total) connections (up to \(total * 2) sockets with their server connections), but this machine lets a process open \(limit.rlim_max) files",
            at: largest.map { "listeners[\($0)].limits.max_connections" } ?? "listeners", in: config)]
    }
}

package enum FileDescriptorLimit {
    /// Descriptors kept back from client and server connections: the admin API, health checks,
    /// the state database, logs.
    package static let reserved = 256

    /// The hard limit on open files (what the balancer may raise its soft limit to).
    package static var hard: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return Int(clamping: limit.rlim_max)
    }

    /// Sets `max_connections` of every listener that does not write it, as HAProxy derives
    /// `maxconn` from the file limit: what the hard limit leaves after the reserve and the
    /// written limits, two descriptors a connection (client and server side), shared evenly,
    /// at most 10,000 and at least 1.
    static func deriveMaxConnections(_ config: inout Config, written: (Int) -> Bool, hardLimit: Int = hard) {
        let derived = config.listeners.indices.filter { !written($0) }
        guard !derived.isEmpty else { return }
        let explicit = config.listeners.indices.filter(written).reduce(0) { $0 + config.listeners[$1].limits.maxConnections }
        let available = max(0, hardLimit - reserved - 2 * explicit)
        let each = min(10_000, max(1, available / 2 / derived.count))
        for index in derived {
            config.listeners[index].limits.maxConnections = each
            config.listeners[index].limits.maxConnectionsDerived = true
        }
    }

    /// Raises the soft limit on open files towards `needed` (never above the hard limit).
    /// Returns the limit in force afterwards.
    @discardableResult
    package static func raise(toAtLeast needed: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        let wanted = rlim_t(clamping: needed)
        if limit.rlim_cur < wanted {
            limit.rlim_cur = min(wanted, limit.rlim_max)
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }
}
