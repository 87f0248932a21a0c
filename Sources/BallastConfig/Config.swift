import Foundation

/// A whole Ballast configuration (`version: 1`), typed and validated.
///
/// Every field has the default that design.md documents; `sourceMap` keeps the position of
/// every node that was read, keyed by its path (`upstreams[0].servers[1].weight`), so later
/// rules can point at the exact place.
public struct Config: Sendable {
    public var version: Int = 1
    public var admin = Admin()
    public var listeners: [Listener] = []
    public var upstreams: [Upstream] = []
    public var rollout = Rollout()
    /// The alert engine's rules; `AlertsConfig.defaults(for:)` when the file has no `alerts:`.
    public var alerts = AlertsConfig()
    /// A runbook last reviewed longer ago than this is reported (`runbooks.review_interval`).
    public var runbookReviewInterval: Duration = .seconds(90 * 86_400)
    /// Directories besides the config's own (and everything under it) that runbook files may
    /// be read from (`runbooks.directories`, relative to the config).
    public var runbookDirectories: [String] = []
    /// Whether `alerts` came from the file (false: the defaults were filled in).
    public var alertsGiven = false
    public var sourceMap: [String: SourceLocation] = [:]
    /// The exact text this config was loaded from, for history and diffs.
    public var sourceText: String = ""
    /// The absolute directory relative paths are resolved against (`resolvePath`): the config
    /// file's directory, or the running config's for a config sent to the admin API.
    public var baseDirectory: String = FileManager.default.currentDirectoryPath
    /// The name findings give the file this config came from.
    public var sourceFile: String = ""

    public init() {}

    public func upstream(named name: String) -> Upstream? {
        upstreams.first { $0.name == name }
    }

    public func location(of path: String) -> SourceLocation? { sourceMap[path] }

    /// The position of `path`, or of its nearest written ancestor when the key was left out
    /// (a finding about a default value points at the block that would hold the key).
    public func location(nearest path: String) -> SourceLocation? {
        var path = Substring(path)
        while !path.isEmpty {
            if let location = sourceMap[String(path)] { return location }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            path = path[..<cut]
        }
        return sourceMap[String(path)]
    }

    /// Whether the file wrote this key (as opposed to the default standing in for it).
    public func wrote(_ path: String) -> Bool { sourceMap[path] != nil }
}

public struct Admin: Sendable, Hashable {
    public var listen = Address(host: "127.0.0.1", port: 9900)
    /// The environment variable holding the bearer token the admin API requires.
    public var tokenEnv: String = "BALLAST_ADMIN_TOKEN"
    /// The environment variable holding a token that may only read (status, metrics, events).
    public var readTokenEnv: String = "BALLAST_ADMIN_READ_TOKEN"
    /// A file of named tokens (`NAME read|write SHA256-HEX` per line), relative to the config.
    public var tokensFile: String?
    /// Names (`HOST` or `HOST:PORT`) the admin API answers to besides its own address; any
    /// other `Host` is refused, so a page whose name resolves to this machine reads nothing.
    public var hosts: [String] = []
    public init() {}
}

public struct Listener: Sendable {
    public var name: String
    public var listen: Address
    public var limits = Limits()
    public var timeouts = ListenerTimeouts()
    /// Peers whose `X-Forwarded-*` headers are kept; everyone else's are replaced.
    public var trustedProxies: [String] = []
    public var accessLog = false
    /// Terminate TLS with this certificate chain and key (PEM files).
    public var tls: TLSFiles?
    public var routes: [Route] = []

    public init(name: String, listen: Address) {
        self.name = name
        self.listen = listen
    }
}

public struct TLSFiles: Sendable, Hashable {
    /// The paths as written in the config.
    public var certificate: String
    public var key: String
    /// The same, resolved against the config's directory when it was loaded.
    public var certificatePath: String
    public var keyPath: String
    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
        self.certificatePath = certificate
        self.keyPath = key
    }
}

public struct Limits: Sendable, Hashable {
    public var maxHeaderBytes = 16_384
    public var maxBodyBytes = 1_048_576
    /// Without `max_connections` in the file: derived from the open-file limit (see
    /// `FileDescriptorLimit.defaultMaxConnections`), at most 10,000.
    public var maxConnections = 10_000
    /// True when `max_connections` was not written and the loader derived it.
    public var maxConnectionsDerived = false
    /// The most connections one client (an IPv4 address, an IPv6 /64) may hold at once, so one
    /// client cannot take every slot of `max_connections`. Trusted proxies are exempt (they
    /// carry many clients). Without a value: a quarter of `max_connections`, at least 64.
    public var maxConnectionsPerClientWritten: Int?
    public var maxConnectionsPerClient: Int { maxConnectionsPerClientWritten ?? max(64, maxConnections / 4) }
    public init() {}
}

public struct ListenerTimeouts: Sendable, Hashable {
    /// Time allowed to receive a whole request head (slowloris defence): 408 after it.
    public var clientHeader: Duration = .seconds(10)
    /// A kept-alive client connection with no request in flight is closed after this.
    public var idle: Duration = .seconds(60)
    /// A response that makes no progress for this long is ended, both connections closed: the
    /// client does not read it, or the server stopped sending it mid-body (nginx's
    /// `send_timeout` and `proxy_read_timeout`, 60 s).
    public var stall: Duration = .seconds(60)
    public init() {}
}

public struct Route: Sendable {
    public var name: String
    public var match = Match()
    public var upstream: String
    public var timeouts = RouteTimeouts()
    public var retries = Retries()
    public var rateLimit: RateLimit?

    public init(name: String, upstream: String) {
        self.name = name
        self.upstream = upstream
    }
}

public struct Match: Sendable, Hashable {
    public var host: String?
    public var pathPrefix: String?
    public var path: String?
    public var methods: [String]?
    public init() {}
}

public struct RouteTimeouts: Sendable, Hashable {
    public var connect: Duration = .seconds(1)
    /// From the request head sent upstream to the response head received: 504 after it.
    public var response: Duration = .seconds(15)
    public init() {}
}

public struct Retries: Sendable, Hashable {
    public enum Condition: Sendable, Hashable, CustomStringConvertible {
        case connectFailure
        case status(Int)

        public var description: String {
            switch self {
            case .connectFailure: "connect-failure"
            case .status(let code): String(code)
            }
        }
    }

    public var attempts = 1
    public var on: [Condition] = [.connectFailure]
    /// Retries to the upstream may be at most this share of its requests over the last 10 s
    /// (at least 10 per event loop), as Finagle's retry budget; 0 allows none.
    public var budgetPercent: Double = 20
    public init() {}
}

public struct RateLimit: Sendable, Hashable {
    public var perClient: Rate
    public var burst: Int
    public init(perClient: Rate, burst: Int) {
        self.perClient = perClient
        self.burst = burst
    }
}

public enum BalanceAlgorithm: String, Sendable, CaseIterable {
    case roundRobin = "round_robin"
    case weightedRoundRobin = "weighted_round_robin"
    case leastRequest = "least_request"
    case random
    case consistentHash = "consistent_hash"
}

public enum HashKey: Sendable, Hashable, CustomStringConvertible {
    case header(String)
    case cookie(String)
    case clientIP

    public static func parse(_ text: String) -> HashKey? {
        if text == "client_ip" { return .clientIP }
        if text.hasPrefix("header:"), text.count > 7 { return .header(String(text.dropFirst(7)).lowercased()) }
        if text.hasPrefix("cookie:"), text.count > 7 { return .cookie(String(text.dropFirst(7))) }
        return nil
    }

    public var description: String {
        switch self {
        case .header(let name): "header:\(name)"
        case .cookie(let name): "cookie:\(name)"
        case .clientIP: "client_ip"
        }
    }
}

public struct Upstream: Sendable {
    public var name: String
    public var balance: BalanceAlgorithm = .roundRobin
    public var hashOn: HashKey?
    public var servers: [Server] = []
    public var health: HealthCheck?
    public var outlier = OutlierPolicy()
    public var keepalive = Keepalive()
    public var panicThresholdPercent: Double = 50

    public init(name: String) { self.name = name }
}

public struct Server: Sendable, Hashable {
    public var address: Address
    public var weight: Int
    public init(address: Address, weight: Int = 1) {
        self.address = address
        self.weight = weight
    }
}

public struct HealthCheck: Sendable, Hashable {
    public var path = "/healthz"
    public var interval: Duration = .seconds(2)
    public var timeout: Duration = .seconds(1)
    public var healthyAfter = 2
    public var unhealthyAfter = 3
    public var expectStatus = 200
    public init() {}
}

public struct OutlierPolicy: Sendable, Hashable {
    public var consecutiveFailures = 5
    public var ejectFor: Duration = .seconds(30)
    public var maxEjectedPercent: Double = 50
    public init() {}
}

public struct Keepalive: Sendable, Hashable {
    public var maxIdlePerServer = 64
    public var idleTimeout: Duration = .seconds(50)
    /// The servers' own keep-alive timeout, so `ballast check` can see the 502 trap.
    public var serverIdleTimeout: Duration?
    /// Requests that may share one kept-alive connection in a single write (HTTP/1.1
    /// pipelining); 1 means never. Only bodiless idempotent requests that arrive together.
    public var pipelineDepth = 1
    public init() {}
}

public struct Rollout: Sendable, Hashable {
    public var canaryPercent: Double = 10
    public var watch: Duration = .seconds(20)
    public var errorRateAbove: Double = 2
    public var healthyBelow: Double = 50
    public var p99Above: Duration = .milliseconds(500)
    public init() {}
}
