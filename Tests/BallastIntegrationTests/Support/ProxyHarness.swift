import BallastConfig
import BallastProxy
import NIOCore
import NIOPosix

/// A free loopback port (bound once, then released) for a listener in a test config.
func freePort() async throws -> Int {
    let channel = try await ServerBootstrap(group: TestBackend.group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

/// A running load balancer in front of test backends.
struct ProxyHarness: Sendable {
    let balancer: LoadBalancer
    let port: Int

    static func start(_ yaml: (Int) -> String, threads: Int = 2) async throws -> ProxyHarness {
        let port = try await freePort()
        let config = try ConfigLoader.load(text: yaml(port), file: "test.yaml").get().config
        let balancer = try LoadBalancer(config: config, threads: threads)
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
func simpleConfig(port: Int, servers: [String], balance: String = "round_robin", extraUpstream: String = "",
                  extraRoute: String = "", listenerExtra: String = "") -> String {
    """
    version: 1
    admin: { listen: 127.0.0.1:1 }
    listeners:
      - name: public
        listen: 127.0.0.1:\(port)
    \(listenerExtra)
        routes:
          - name: all
            match: { path_prefix: / }
            upstream: app
    \(extraRoute)
    upstreams:
      - name: app
        balance: \(balance)
        servers:
    \(servers.map { "      - \($0)" }.joined(separator: "\n"))
    \(extraUpstream)
    """
}
