import Metrics

/// What one server did for the requests of one event loop: answers by status class and their
/// latency (`ballast_upstream_server_requests_total{upstream,server,code}` and
/// `ballast_upstream_server_response_seconds{upstream,server}`). `code` is `1xx`…`5xx` or
/// `failed` (no answer: refused, reset, timed out), so the series per server are at most six
/// counters and one histogram, however many statuses the server sends.
final class ServerMetrics {
    private let upstream: String
    private let server: String
    /// By status class (index 1...5), and `failed` at 0; made at first use.
    private var counters: [Counter?] = Array(repeating: nil, count: 6)
    private let latency: Metrics.Timer

    init(upstream: String, server: String) {
        self.upstream = upstream
        self.server = server
        latency = Metrics.Timer(label: "ballast_upstream_server_response_seconds",
                                dimensions: [("upstream", upstream), ("server", server)], preferredDisplayUnit: .seconds)
    }

    /// The server's response head arrived `nanos` after the attempt began.
    func answered(status: Int, nanos: Int64) {
        counter(min(5, max(1, status / 100))).increment()
        latency.recordNanoseconds(nanos)
    }

    /// The attempt got no answer.
    func failed() { counter(0).increment() }

    private func counter(_ slot: Int) -> Counter {
        if let counter = counters[slot] { return counter }
        let counter = Counter(label: "ballast_upstream_server_requests_total",
                              dimensions: [("upstream", upstream), ("server", server), ("code", slot == 0 ? "failed" : "\(slot)xx")])
        counters[slot] = counter
        return counter
    }
}

extension LoopContext {
    /// `server`'s metrics on this loop, made at its first request here.
    func serverMetrics(_ upstream: UpstreamRuntime, _ server: ServerTarget) -> ServerMetrics {
        let cache = upstream.serverMetrics[index]
        if let metrics = cache.value[server.index] { return metrics }
        let metrics = ServerMetrics(upstream: upstream.name, server: server.key)
        cache.value[server.index] = metrics
        return metrics
    }
}
