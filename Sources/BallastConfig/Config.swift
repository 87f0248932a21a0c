import Foundation

/// A whole Ballast configuration (`version: 1`), typed and validated.
///
/// Every field has the default that design.md documents; `sourceMap` keeps the position of
/// every node that was read, keyed by its path (`upstreams[0].servers[1].weight`), so later
/// rules can point at the exact place.
package struct Config: Sendable {
    package var version: Int = 1
    package var admin = Admin()
    package var listeners: [Listener] = []
    package var upstreams: [Upstream] = []
    package var rollout = Rollout()
    /// Spans to an OpenTelemetry collector (`tracing:`); off when `endpoint` is nil.
    package var tracing = Tracing()
    /// The alert engine's rules; `AlertsConfig.defaults(for:)` when the file has no `alerts:`.
    package var alerts = AlertsConfig()
    /// A runbook last reviewed longer ago than this is reported (`runbooks.review_interval`).
    package var runbookReviewInterval: Duration = .seconds(90 * 86_400)
    /// Directories besides the config's own (and everything under it) that runbook files may
    /// be read from (`runbooks.directories`, relative to the config).
    package var runbookDirectories: [String] = []
    /// Whether `alerts` came from the file (false: the defaults were filled in).
    package var alertsGiven = false
    package var sourceMap: [String: SourceLocation] = [:]
    /// The exact text this config was loaded from, for history and diffs.
    package var sourceText: String = ""
    /// The absolute directory relative paths are resolved against (`resolvePath`): the config
    /// file's directory, or the running config's for a config sent to the admin API.
    package var baseDirectory: String = FileManager.default.currentDirectoryPath
    /// The name findings give the file this config came from.
    package var sourceFile: String = ""

    package init() {}

    package func upstream(named name: String) -> Upstream? {
        upstreams.first { $0.name == name }
    }

    package func location(of path: String) -> SourceLocation? { sourceMap[path] }

    /// The position of `path`, or of its nearest written ancestor when the key was left out
    /// (a finding about a default value points at the block that would hold the key).
    package func location(nearest path: String) -> SourceLocation? {
        var path = Substring(path)
        while !path.isEmpty {
            if let location = sourceMap[String(path)] { return location }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            path = path[..<cut]
        }
        return sourceMap[String(path)]
    }

    /// Whether the file wrote this key (as opposed to the default standing in for it).
    package func wrote(_ path: String) -> Bool { sourceMap[path] != nil }
}

package struct Admin: Sendable, Hashable {
    package var listen = Address(host: "127.0.0.1", port: 9900)
    /// The environment variable holding the bearer token the admin API requires.
    package var tokenEnv: String = "BALLAST_ADMIN_TOKEN"
    /// The environment variable holding a token that may only read (status, metrics, events).
    package var readTokenEnv: String = "BALLAST_ADMIN_READ_TOKEN"
    /// A file of named tokens (`NAME read|write SHA256-HEX` per line), relative to the config.
    package var tokensFile: String?
    /// Names (`HOST` or `HOST:PORT`) the admin API answers to besides its own address; any
    /// other `Host` is refused, so a page whose name resolves to this machine reads nothing.
    package var hosts: [String] = []
    package init() {}
}

package struct Listener: Sendable {
    package var name: String
    package var listen: Address
    package var limits = Limits()
    package var timeouts = ListenerTimeouts()
    /// Peers whose `X-Forwarded-*` headers are kept; everyone else's are replaced.
    package var trustedProxies: [String] = []
    /// One line per request and per tunnel; nil: none.
    package var accessLog: AccessLog?
    /// Terminate TLS: certificates chosen by SNI, the minimum version, client certificates.
    package var tls: ListenerTLS?
    package var routes: [Route] = []
    /// `protocols` as written: `h2` (ALPN on a TLS listener), `h2c` (HTTP/2 with prior knowledge
    /// on a cleartext one), `http1`; nil takes the default.
    package var protocolsWritten: [String]?

    /// What the listener speaks: `[h2, http1]` with TLS (the client picks by ALPN), `[http1]`
    /// without, unless written.
    package var protocols: [String] { protocolsWritten ?? (tls == nil ? ["http1"] : ["h2", "http1"]) }

    package init(name: String, listen: Address) {
        self.name = name
        self.listen = listen
    }
}

package struct TLSFiles: Sendable, Hashable {
    /// The paths as written in the config.
    package var certificate: String
    package var key: String
    /// The same, resolved against the config's directory when it was loaded.
    package var certificatePath: String
    package var keyPath: String
    package init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
        self.certificatePath = certificate
        self.keyPath = key
    }
}

/// A listener's `access_log`: `true` is text through the process log (stderr), as before;
/// `{ format: text|json, path: FILE }` writes lines to a file of their own (stderr without a path).
package struct AccessLog: Sendable, Hashable {
    package enum Format: String, Sendable, Hashable, CaseIterable { case text, json }
    package var format: Format = .text
    /// As written, and resolved against the config's directory.
    package var path: String?
    package var resolvedPath: String?
    package init() {}
}

/// A listener's `tls:`: `{ cert, key }` is the short form of one certificate.
package struct ListenerTLS: Sendable, Hashable {
    /// Chosen by the name the client asks for (SNI); the first is the default.
    package var certificates: [TLSFiles]
    package var minVersion: TLSMinimumVersion = .v1_2
    /// Require client certificates signed by this CA (PEM), as written and as resolved.
    package var clientCA: String?
    package var clientCAPath: String?
    package init(certificates: [TLSFiles]) { self.certificates = certificates }
}

/// The oldest TLS version a listener accepts. 1.0 and 1.1 are allowed only so that a config
/// that needs them says so (BL071 warns): RFC 8996 deprecates both.
package enum TLSMinimumVersion: String, Sendable, Hashable, CaseIterable {
    case v1_0 = "1.0", v1_1 = "1.1", v1_2 = "1.2", v1_3 = "1.3"
}

/// An upstream's `tls:`: the server's certificate verified against `ca` (the system's roots
/// without it) and `server_name`, an optional client certificate.
package struct UpstreamTLS: Sendable, Hashable {
    package var ca: String?
    package var caPath: String?
    /// The name sent by SNI and verified in the server's certificate; without it, the server's host.
    package var serverName: String?
    package var client: TLSFiles?
    /// `verify: false` accepts any certificate (BL071 warns): encryption without knowing the peer.
    package var verify = true
    package init() {}
}

package struct Limits: Sendable, Hashable {
    package var maxHeaderBytes = 16_384
    package var maxBodyBytes = 1_048_576
    /// Without `max_connections` in the file: derived from the open-file limit (see
    /// `FileDescriptorLimit.defaultMaxConnections`), at most 10,000.
    package var maxConnections = 10_000
    /// True when `max_connections` was not written and the loader derived it.
    package var maxConnectionsDerived = false
    /// The most connections one client (an IPv4 address, an IPv6 /64) may hold at once, so one
    /// client cannot take every slot of `max_connections`. Trusted proxies are exempt (they
    /// carry many clients). Without a value: a quarter of `max_connections`, at least 64.
    package var maxConnectionsPerClientWritten: Int?
    package var maxConnectionsPerClient: Int { maxConnectionsPerClientWritten ?? max(64, maxConnections / 4) }
    package init() {}
}

package struct ListenerTimeouts: Sendable, Hashable {
    /// Time allowed to receive a whole request head (slowloris defence): 408 after it.
    package var clientHeader: Duration = .seconds(10)
    /// A kept-alive client connection with no request in flight is closed after this.
    package var idle: Duration = .seconds(60)
    /// A response that makes no progress for this long is ended, both connections closed: the
    /// client does not read it, or the server stopped sending it mid-body (nginx's
    /// `send_timeout` and `proxy_read_timeout`, 60 s).
    package var stall: Duration = .seconds(60)
    package init() {}
}

package struct Route: Sendable {
    package var name: String
    package var match = Match()
    package var upstream: String
    package var timeouts = RouteTimeouts()
    package var retries = Retries()
    package var rateLimit: RateLimit?
    /// Protocols a request may switch to with `Upgrade` (lower-case); empty refuses every one.
    package var upgrades: [String] = ["websocket"]

    package init(name: String, upstream: String) {
        self.name = name
        self.upstream = upstream
    }
}

package struct Match: Sendable, Hashable {
    package var host: String?
    package var pathPrefix: String?
    package var path: String?
    package var methods: [String]?
    package init() {}
}

package struct RouteTimeouts: Sendable, Hashable {
    package var connect: Duration = .seconds(1)
    /// From the request head sent upstream to the response head received: 504 after it.
    package var response: Duration = .seconds(15)
    /// An upgraded connection (a WebSocket) with no byte either way for this long is closed.
    package var tunnelIdle: Duration = .seconds(300)
    /// An upgraded connection is closed after this long, busy or not.
    package var tunnelMax: Duration = .seconds(24 * 3600)
    package init() {}
}

package struct Retries: Sendable, Hashable {
    package enum Condition: Sendable, Hashable, CustomStringConvertible {
        case connectFailure
        case status(Int)

        package var description: String {
            switch self {
            case .connectFailure: "connect-failure"
            case .status(let code): String(code)
            }
        }
    }

    package var attempts = 1
    package var on: [Condition] = [.connectFailure]
    /// Retries to the upstream may be at most this share of its requests over the last 10 s
    /// (at least 10 per event loop), as Finagle's retry budget; 0 allows none.
    package var budgetPercent: Double = 20
    package init() {}
}

package struct RateLimit: Sendable, Hashable {
    package var perClient: Rate
    package var burst: Int
    package init(perClient: Rate, burst: Int) {
        self.perClient = perClient
        self.burst = burst
    }
}

package enum BalanceAlgorithm: String, Sendable, CaseIterable {
    case roundRobin = "round_robin"
    case weightedRoundRobin = "weighted_round_robin"
    case leastRequest = "least_request"
    case random
    case consistentHash = "consistent_hash"
}

package enum HashKey: Sendable, Hashable, CustomStringConvertible {
    case header(String)
    case cookie(String)
    case clientIP

    package static func parse(_ text: String) -> HashKey? {
        if text == "client_ip" { return .clientIP }
        if text.hasPrefix("header:"), text.count > 7 { return .header(String(text.dropFirst(7)).lowercased()) }
        if text.hasPrefix("cookie:"), text.count > 7 { return .cookie(String(text.dropFirst(7))) }
        return nil
    }

    package var description: String {
        switch self {
        case .header(let name): "header:\(name)"
        case .cookie(let name): "cookie:\(name)"
        case .clientIP: "client_ip"
        }
    }
}

package struct Upstream: Sendable {
    package var name: String
    package var balance: BalanceAlgorithm = .roundRobin
    package var hashOn: HashKey?
    package var servers: [Server] = []
    package var health: HealthCheck?
    package var outlier = OutlierPolicy()
    package var keepalive = Keepalive()
    /// Envoy's circuit breakers: none by default.
    package var limits = UpstreamLimits()
    package var panicThresholdPercent: Double = 50
    /// Speak TLS to the servers (health checks and preflight too).
    package var tls: UpstreamTLS?

    package init(name: String) { self.name = name }
}

package struct Server: Sendable, Hashable {
    package var address: Address
    package var weight: Int
    package init(address: Address, weight: Int = 1) {
        self.address = address
        self.weight = weight
    }
}

package struct HealthCheck: Sendable, Hashable {
    package var path = "/healthz"
    package var interval: Duration = .seconds(2)
    package var timeout: Duration = .seconds(1)
    package var healthyAfter = 2
    package var unhealthyAfter = 3
    package var expectStatus = 200
    package init() {}
}

package struct OutlierPolicy: Sendable, Hashable {
    package var consecutiveFailures = 5
    package var ejectFor: Duration = .seconds(30)
    package var maxEjectedPercent: Double = 50
    package init() {}
}

package struct Keepalive: Sendable, Hashable {
    package var maxIdlePerServer = 64
    package var idleTimeout: Duration = .seconds(50)
    /// The servers' own keep-alive timeout, so `ballast check` can see the 502 trap.
    package var serverIdleTimeout: Duration?
    /// Requests that may share one kept-alive connection in a single write (HTTP/1.1
    /// pipelining); 1 means never. Only bodiless idempotent requests that arrive together.
    package var pipelineDepth = 1
    package init() {}
}

/// Caps on what one upstream takes at once, all event loops together (Envoy's circuit
/// breakers). A request beyond `maxConnections` (it needs a new connection) or
/// `maxRequestsPerServer` (every server it may go to is at the cap) waits in a queue of
/// `maxPending` requests for at most `queueTimeout`, or gets 503 at once when the queue is full.
package struct UpstreamLimits: Sendable, Hashable {
    /// Connections open or opening to the upstream's servers.
    package var maxConnections: Int?
    /// Requests under way to one server.
    package var maxRequestsPerServer: Int?
    /// Requests waiting for a connection or a server; 0: none wait.
    package var maxPending = 1024
    /// How long a request waits at most before 503.
    package var queueTimeout: Duration = .seconds(1)
    package init() {}

    /// Whether any cap is set (otherwise nothing is counted on the request path).
    package var isSet: Bool { maxConnections != nil || maxRequestsPerServer != nil }
}

package struct Rollout: Sendable, Hashable {
    package var canaryPercent: Double = 10
    package var watch: Duration = .seconds(20)
    package var errorRateAbove: Double = 2
    package var healthyBelow: Double = 50
    package var p99Above: Duration = .milliseconds(500)
    package init() {}
}

/// `tracing: { otlp_endpoint, service_name, sample_percent }`: each request's hop through the
/// balancer as a span, sent over OTLP/HTTP (JSON) to a collector. Off without an endpoint.
package struct Tracing: Sendable, Equatable {
    /// `http(s)://HOST:PORT/v1/traces`; nil turns tracing off.
    package var endpoint: String?
    package var serviceName = "ballast"
    /// Of traces the balancer starts or continues unsampled, the share it records (a client's
    /// sampled flag is always followed).
    package var samplePercent: Double = 100
    package init() {}
}
