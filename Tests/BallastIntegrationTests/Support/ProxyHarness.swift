import BallastConfig
import BallastProxy
import NIOCore
import NIOPosix
import Synchronization

/// A free loopback port for a listener in a test config, to be bound later by someone else.
///
/// Taken below the kernel's ephemeral range (32768 and up on Linux) and handed out once per
/// run: a port from `bind(0)` is also what the next outgoing connection or another test's
/// `bind(0)` may get while this one is still unbound, and with hundreds of tests connecting in
/// parallel that happens. Each candidate is bound once to check nobody holds it.
func freePort() async throws -> Int {
    while true {
        let candidate = nextCandidatePort.add(1, ordering: .relaxed).newValue
        guard candidate < 32_000 else { break }
        if let channel = try? await ServerBootstrap(group: TestBackend.group).bind(host: "127.0.0.1", port: candidate).get() {
            try await channel.close()
            return candidate
        }
    }
    let channel = try await ServerBootstrap(group: TestBackend.group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// Where `freePort` looks next: a random start, so two test runs on one machine rarely meet.
private let nextCandidatePort = Atomic<Int>(Int.random(in: 12_000..<22_000))

/// A running load balancer in front of test backends.
struct ProxyHarness: Sendable {
    let balancer: LoadBalancer
    let port: Int

    static func start(_ yaml: (Int) -> String, threads: Int = 2, spans: (any SpanSink)? = nil) async throws -> ProxyHarness {
        let port = try await freePort()
        let config = try ConfigLoader.load(text: yaml(port), file: "test.yaml").get().config
        let balancer = try LoadBalancer(config: config, threads: threads, spans: spans)
        try await balancer.start()
        return ProxyHarness(balancer: balancer, port: port)
    }

    func apply(_ yaml: String) async throws {
        let config = try ConfigLoader.load(text: yaml, file: "test.yaml").get().config
        try await balancer.apply(config)
    }

    func stop() async { await balancer.shutdown(drainFor: .seconds(1)) }
}

/// A config with one listener on `port` routing everything to one upstream of `servers`.
/// `route` and `upstream` name the series this balancer adds to the process-wide metrics; a test
/// that reads those metrics back (an alert engine) must pick names no parallel test uses.
func simpleConfig(port: Int, servers: [String], balance: String = "round_robin", extraUpstream: String = "",
                  extraRoute: String = "", listenerExtra: String = "", route: String = "all", upstream: String = "app") -> String {
    """
    version: 1
    admin: { listen: 127.0.0.1:1 }
    listeners:
      - name: public
        listen: 127.0.0.1:\(port)
    \(listenerExtra)
        routes:
          - name: \(route)
            match: { path_prefix: / }
            upstream: \(upstream)
    \(extraRoute)
    upstreams:
      - name: \(upstream)
        balance: \(balance)
        servers:
    \(servers.map { "      - \($0)" }.joined(separator: "\n"))
    \(extraUpstream)
    """
}

/// A loopback port where nothing answers, held until `release()`: the socket is bound but never
/// listens, so connections are refused and no parallel test can take the port meanwhile
/// (a port from `freePort()` can be reused by another test before it is dialled).
final class DeadPort: Sendable {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard fd >= 0, bound == 0, named == 0 else { throw CancellationError() }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(descriptor) }
}
