import Foundation
import Testing
@testable import BallastConfig

/// A small valid config; tests change one line of it at a time.
let goodConfig = """
version: 1
admin: { listen: 127.0.0.1:9900 }
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - name: auth
        match: { path_prefix: /auth/ }
        upstream: auth
        timeouts: { connect: 1s, response: 10s }
        retries: { attempts: 2, on: [connect-failure, "503"], budget_percent: 20 }
        rate_limit: { per_client: 20/s, burst: 40 }
upstreams:
  - name: auth
    balance: least_request
    servers:
      - { address: 127.0.0.1:9101, weight: 1 }
      - { address: 127.0.0.1:9102, weight: 2 }
    health: { path: /healthz, interval: 2s, timeout: 1s, healthy_after: 2, unhealthy_after: 3, expect_status: 200 }
    outlier: { consecutive_failures: 5, eject_for: 30s, max_ejected_percent: 50 }
    keepalive: { max_idle_per_server: 64, idle_timeout: 50s, server_idle_timeout: 60s }
    panic_threshold_percent: 50
rollout: { canary_percent: 10, watch: 20s, rollback_when: { error_rate_above: 2%, healthy_below: 50%, p99_above: 500ms } }
"""

func load(_ text: String) -> Result<ConfigLoader.Loaded, ConfigError> {
    ConfigLoader.load(text: text, file: "test.yaml")
}

/// Every finding of `text`, the loader's and the lint rules'.
func allFindings(_ text: String) -> [Finding] {
    switch load(text) {
    case .success(let loaded): loaded.warnings
    case .failure(let error): error.findings
    }
}

/// The loader's findings only (syntax, schema, references), which these tests are about.
func findings(_ text: String) -> [Finding] {
    let loaderIDs = Set(Rule.loaderRules.map(\.id))
    return allFindings(text).filter { loaderIDs.contains($0.ruleID) }
}

@Suite struct ConfigLoaderTests {
    @Test func loadsEveryFieldOfTheDesignExample() throws {
        let config = try load(goodConfig).get().config
        #expect(config.admin.listen == Address(host: "127.0.0.1", port: 9900))
        let route = try #require(config.listeners.first?.routes.first)
        #expect(route.match.pathPrefix == "/auth/")
        #expect(route.timeouts.response == .seconds(10))
        #expect(route.retries.attempts == 2)
        #expect(route.retries.on == [.connectFailure, .status(503)])
        #expect(route.rateLimit == RateLimit(perClient: Rate(count: 20, per: .seconds(1)), burst: 40))
        let upstream = try #require(config.upstream(named: "auth"))
        #expect(upstream.balance == .leastRequest)
        #expect(upstream.servers.map(\.weight) == [1, 2])
        #expect(upstream.health?.interval == .seconds(2))
        #expect(upstream.keepalive.serverIdleTimeout == .seconds(60))
        #expect(config.rollout.p99Above == .milliseconds(500))
        #expect(config.rollout.errorRateAbove == 2)
    }

    @Test func upgradesAndTunnelTimeoutsLoadWithTheirDefaults() throws {
        let defaults = try #require(try load(goodConfig).get().config.listeners.first?.routes.first)
        #expect(defaults.upgrades == ["websocket"])
        #expect(defaults.timeouts.tunnelIdle == .seconds(300) && defaults.timeouts.tunnelMax == .seconds(86_400))
        let text = goodConfig.replacingOccurrences(of: "        timeouts: { connect: 1s, response: 10s }",
                                                   with: "        timeouts: { connect: 1s, response: 10s, tunnel_idle: 30s, tunnel_max: 1h }\n        upgrades: [WebSocket, h2c]")
        let route = try #require(try load(text).get().config.listeners.first?.routes.first)
        #expect(route.upgrades == ["websocket", "h2c"])
        #expect(route.timeouts.tunnelIdle == .seconds(30) && route.timeouts.tunnelMax == .seconds(3600))
        let bad = goodConfig.replacingOccurrences(of: "        timeouts: { connect: 1s, response: 10s }",
                                                  with: "        upgrades: [\"web socket\"]")
        #expect(findings(bad).contains { $0.ruleID == "BL010" && $0.message.contains("'web socket'") })
    }

    @Test func protocolsDefaultToH2WithTLSAndRefuseWhatCannotWork() throws {
        let plain = try #require(try load(goodConfig).get().config.listeners.first)
        #expect(plain.protocols == ["http1"])
        var tls = plain
        tls.tls = ListenerTLS(certificates: [TLSFiles(certificate: "a.pem", key: "a.key")])
        #expect(tls.protocols == ["h2", "http1"])
        let listen = "    listen: 127.0.0.1:8080"
        let http1 = try #require(try load(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    protocols: [http1]")).get()
            .config.listeners.first)
        #expect(http1.protocols == ["http1"])
        let h2c = try #require(try load(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    protocols: [h2c, http1]")).get()
            .config.listeners.first)
        #expect(h2c.protocols == ["h2c", "http1"])
        let unknown = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    protocols: [spdy]"))
        #expect(unknown.contains { $0.ruleID == "BL010" && $0.message.contains("'spdy'") })
        let h2WithoutTLS = findings(goodConfig.replacingOccurrences(of: listen, with: listen + "\n    protocols: [h2]"))
        #expect(h2WithoutTLS.contains { $0.ruleID == "BL010" && $0.message.contains("no 'tls'") })
    }

    @Test func unknownKeySuggestsTheClosestOne() {
        let text = goodConfig.replacingOccurrences(of: "    listen: 127.0.0.1:8080", with: "    listne: 127.0.0.1:8080")
        let all = findings(text)
        let unknown = try! #require(all.first { $0.ruleID == "BL002" })
        #expect(unknown.location == SourceLocation(file: "test.yaml", line: 5, column: 5))
        #expect(unknown.fix == "did you mean 'listen'?")
        #expect(unknown.description.hasPrefix("test.yaml:5:5: error: [BL002] unknown key 'listne' in a listener"))
    }

    /// Found by fuzzing: libyaml breaks lines at a lone CR (and NEL, U+2028, U+2029), so the
    /// positions it reported named lines the file did not seem to have.
    @Test(arguments: ["\r", "\u{85}", "\u{2028}", "\u{2029}"])
    func aLineBreakEditorsDoNotShowIsRefusedWhereItIs(_ stray: String) {
        let text = goodConfig.replacingOccurrences(of: "    listen: 127.0.0.1:8080", with: "    listen: 127.0.0.1:8080" + stray + "x: 1")
        let all = findings(text)
        #expect(all.count == 1)
        #expect(all.first?.ruleID == "BL001")
        #expect(all.first?.location == SourceLocation(file: "test.yaml", line: 5, column: 27))   // just after "    listen: 127.0.0.1:8080"
        #expect(findings(goodConfig.replacingOccurrences(of: "\n", with: "\r\n")).isEmpty, "CRLF line endings stay valid")
    }

    /// Found by fuzzing: at the end of a file without a final newline libyaml reports a line
    /// past the last one.
    @Test(arguments: ["version: 1\nlisteners: [", "version: 1\r\nlisteners: ["])
    func aSyntaxErrorAtTheEndOfTheFileIsPlacedOnItsLastLine(_ text: String) {
        let all = findings(text)
        #expect(all.map(\.ruleID) == ["BL001"])
        #expect(all.first?.location == SourceLocation(file: "test.yaml", line: 2, column: 13))
    }

    /// Found by fuzzing: Yams placed a repeated list key at an unstable position, and printed
    /// the whole file into the message.
    @Test func aRepeatedKeyIsOneShortFindingAtTheKey() {
        let repeated = findings("version: 1\nadmin: { listen: 127.0.0.1:9900 }\nversion: 1\n")
        #expect(repeated.map(\.description) == ["test.yaml:1:1: error: [BL001] YAML syntax: a mapping repeats the key 'version'; fix: keep one of them"])
        let listKeys = "? [a]\n: 1\n? [a]\n: 2\n"
        #expect(findings(listKeys) == findings(listKeys))
        #expect(findings(listKeys).first?.message == "YAML syntax: a mapping key is a list or a mapping, and is repeated")
    }

    @Test func reportsEveryProblemOfAFileInOneRun() {
        let text = goodConfig
            .replacingOccurrences(of: "connect: 1s", with: "connect: 5")
            .replacingOccurrences(of: "127.0.0.1:9102", with: "127.0.0.1:99999")
            .replacingOccurrences(of: "upstream: auth", with: "upstream: auht")
            .replacingOccurrences(of: "balance: least_request", with: "balance: least_requests")
        let ids = Set(findings(text).map(\.ruleID))
        #expect(ids == ["BL004", "BL005", "BL007", "BL010"])
    }

    @Test func pipelineDepthIsOneUnlessSetAndBounded() throws {
        let plain = try #require(try? ConfigLoader.load(text: goodConfig, file: "test.yaml").get().config)
        #expect(plain.upstreams.allSatisfy { $0.keepalive.pipelineDepth == 1 })
        let set = goodConfig.replacingOccurrences(of: "server_idle_timeout: 60s }", with: "server_idle_timeout: 60s, pipeline_depth: 8 }")
        let loaded = try #require(try? ConfigLoader.load(text: set, file: "test.yaml").get().config)
        #expect(loaded.upstreams.first { $0.name == "auth" }?.keepalive.pipelineDepth == 8)
        for bad in ["0", "33", "eight"] {
            let f = findings(goodConfig.replacingOccurrences(of: "server_idle_timeout: 60s }", with: "server_idle_timeout: 60s, pipeline_depth: \(bad) }"))
            #expect(f.count == 1 && f[0].message.contains("pipeline_depth"), "pipeline_depth: \(bad) gave \(f.map(\.description))")
        }
    }

    @Test func badDurationSaysWhichUnitToAdd() {
        let f = findings(goodConfig.replacingOccurrences(of: "connect: 1s", with: "connect: 5"))
        #expect(f.count == 1)
        #expect(f[0].ruleID == "BL004")
        #expect(f[0].fix == "add a unit: '5s' or '5ms'")
        #expect(f[0].location?.line == 10)
    }

    @Test(arguments: [
        ("127.0.0.1:0", "outside 1-65535"),
        ("127.0.0.1:65536", "outside 1-65535"),
        ("127.0.0.1", "has no port"),
        ("\"::1:80\"", "IPv6 address without brackets"),
        ("127.0.0.1:http", "not a number"),
        ("bad host:80", "is not HOST:PORT"),
    ])
    func malformedAddressesAreFindings(address: String, expected: String) {
        let f = findings(goodConfig.replacingOccurrences(of: "127.0.0.1:9101", with: address))
        #expect(f.contains { $0.ruleID == "BL005" && $0.message.contains(expected) })
    }

    @Test func routeToMissingUpstreamSuggestsTheRightName() {
        let f = findings(goodConfig.replacingOccurrences(of: "upstream: auth", with: "upstream: auht"))
        #expect(f.map(\.ruleID) == ["BL007"])
        #expect(f[0].fix == "did you mean 'auth'?")
        #expect(f[0].location?.line == 9)
    }

    @Test func duplicateNamesAndAddressesAreFindings() {
        let dup = findings(goodConfig.replacingOccurrences(
            of: "rollout: {", with: "  - name: auth\n    servers: [127.0.0.1:9200]\nrollout: {"))
        #expect(dup.contains { $0.ruleID == "BL006" && $0.message.contains("upstream name 'auth'") })
        let clash = findings(goodConfig.replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: 127.0.0.1:9900"))
        #expect(clash.contains { $0.ruleID == "BL011" && $0.message.contains("the admin API") })
        let twice = findings(goodConfig.replacingOccurrences(of: "127.0.0.1:9102", with: "127.0.0.1:9101"))
        #expect(twice.map(\.ruleID) == ["BL013"])
    }

    @Test func wrongTypesAreFindings() {
        let f = findings(goodConfig.replacingOccurrences(of: "healthy_after: 2", with: "healthy_after: two"))
        #expect(f.map(\.ruleID) == ["BL003"])
        let notAList = findings(goodConfig.replacingOccurrences(of: "listeners:\n", with: "listeners: 3\nx:\n"))
        #expect(notAList.contains { $0.ruleID == "BL003" })
    }

    @Test func syntaxErrorHasAPosition() {
        let f = findings("version: 1\nlisteners: [\n  - name: x\n")
        #expect(f.count == 1)
        #expect(f[0].ruleID == "BL001")
        #expect(f[0].location != nil)
    }

    @Test func emptyAndUnsupportedVersions() {
        #expect(findings("").map(\.ruleID) == ["BL008"])
        #expect(findings(goodConfig.replacingOccurrences(of: "version: 1", with: "version: 2")).map(\.ruleID) == ["BL009"])
    }

    @Test func upstreamShapes() {
        let zero = findings(goodConfig.replacingOccurrences(of: "weight: 2", with: "weight: 0").replacingOccurrences(of: "weight: 1", with: "weight: 0"))
        #expect(zero.map(\.ruleID) == ["BL014"])
        let hashWithoutKey = findings(goodConfig.replacingOccurrences(of: "least_request", with: "consistent_hash"))
        #expect(hashWithoutKey.map(\.ruleID) == ["BL015"])
        let keyWithoutHash = findings(goodConfig.replacingOccurrences(of: "    balance: least_request", with: "    balance: least_request\n    hash_on: client_ip"))
        #expect(keyWithoutHash.map(\.severity) == [.warning])
        let empty = findings(goodConfig.replacingOccurrences(
            of: "    servers:\n      - { address: 127.0.0.1:9101, weight: 1 }\n      - { address: 127.0.0.1:9102, weight: 2 }\n", with: "    servers: []\n"))
        #expect(empty.map(\.ruleID) == ["BL012"])
    }

    @Test func missingFileIsAFindingNotACrash() {
        guard case .failure(let error) = ConfigLoader.load(file: "/nonexistent/ballast.yaml") else {
            Issue.record("a missing file loaded")
            return
        }
        #expect(error.findings.map(\.ruleID) == ["BL016"])
        #expect(error.description.contains("does not exist"))
    }
}

@Suite struct ValueTests {
    @Test(arguments: [("250ms", 250), ("2s", 2000), ("1.5s", 1500), ("1m", 60_000), ("1h", 3_600_000), ("90d", 7_776_000_000)])
    func durations(text: String, ms: Int64) {
        #expect(Duration.parseConfig(text)?.milliseconds == ms)
    }

    @Test(arguments: ["5", "s", "-1s", "1y", "1 s", "", "1e3s", "nans"])
    func notDurations(text: String) {
        #expect(Duration.parseConfig(text) == nil)
    }

    @Test func durationRoundTripsToConfigText() {
        #expect(Duration.seconds(30).configText == "30s")
        #expect(Duration.milliseconds(250).configText == "250ms")
        #expect(Duration.seconds(120).configText == "2m")
    }

    @Test func addresses() throws {
        #expect(try Address.parse("[::1]:8080").get() == Address(host: "::1", port: 8080))
        #expect(try Address.parse("backend.local:80").get().host == "backend.local")
        #expect(Address(host: "::1", port: 1).description == "[::1]:1")
        #expect(Address(host: "127.0.0.2", port: 1).isLoopback)
        #expect(!Address(host: "0.0.0.0", port: 1).isLoopback)
    }

    @Test func rates() {
        #expect(Rate.parse("20/s")?.perSecond == 20)
        #expect(Rate.parse("600/m")?.perSecond == 10)
        #expect(Rate.parse("0/s") == nil)
        #expect(Rate.parse("20/d") == nil)
    }

    @Test func closestMatchOnlySuggestsLikelyTypos() {
        #expect(closestMatch(to: "listne", in: ["listen", "name", "routes"]) == "listen")
        #expect(closestMatch(to: "zzzzzz", in: ["listen", "name", "routes"]) == nil)
    }
}

/// Bounded parsing: a config that multiplies through its aliases is refused at the place its
/// budget ran out, instead of growing to gigabytes (a 556-byte file reached 2.8 GB before).
@Suite struct ConfigBoundsTests {
    static let bomb: String = {
        var text = "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
            previous = name
        }
        return text
    }()

    /// An alias as a mapping key is refused before the YAML is composed: Yams compares keys, and a
    /// key standing for a big anchor took a 746-byte fuzz input 50 s. Aliases as values still work,
    /// and a quoted key or a comment is not mistaken for one.
    @Test func anAliasAsAKeyIsRefusedAtOnce() throws {
        let bomb = """
            version: 1
            a: &a [x, x, x, x, x, x, x, x, x, x]
            b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
            c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
            d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
            e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
            f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
            g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
            z: [*g, *g: 1]

            """
        let started = ContinuousClock.now
        let found = allFindings(bomb)
        #expect(ContinuousClock.now - started < .seconds(2))
        #expect(found.map(\.ruleID) == ["BL051"], "\(found)")
        #expect(found.first?.location?.line == 9)
        // The last one was found by fuzzing: libyaml makes `*g more` a key, which Yams hashed whole.
        for key in ["? *g\n: 1", "{ *g : 1 }", "*g:\n  x: 1", "h: [*g, *g    listen: 127.0.0.1:8080"] {
            #expect(allFindings("version: 1\ng: &g [1]\n" + key + "\n").contains { $0.ruleID == "BL051" }, "\(key)")
        }
        let fine = """
            version: 1
            listeners: []
            upstreams:
              - name: app
                servers: [127.0.0.1:9101, 127.0.0.1:9102]
                health: &h { path: /healthz }
              - name: "*quoted: name"
                servers: [127.0.0.1:9201, 127.0.0.1:9202]
                health: *h
            # a comment with *alias: in it
            alerts_note: [*h, *h]

            """
        #expect(!allFindings(fine).contains { $0.ruleID == "BL051" }, "\(allFindings(fine))")
    }

    @Test func anAliasBombIsRefusedWithBL051() {
        #expect(Self.bomb.utf8.count < 700)
        let found = allFindings(Self.bomb)
        #expect(found.map(\.ruleID) == ["BL051"], "\(found)")
        #expect(found.first?.message.contains("more than 200000 YAML nodes") == true)
        #expect(found.first?.location?.file == "test.yaml")
    }

    @Test func deepNestingAndHugeFilesAreRefused() throws {
        let deep = "version: 1\nx: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n"
        #expect(allFindings(deep).map(\.ruleID) == ["BL051"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bounds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let huge = directory.appendingPathComponent("huge.yaml")
        try Data(repeating: UInt8(ascii: "#"), count: 5 << 20).write(to: huge)
        guard case .failure(let error) = ConfigLoader.load(file: huge.path) else { Issue.record("a 5 MiB file loaded"); return }
        #expect(error.findings.map(\.ruleID) == ["BL051"])
    }

    @Test func modestAnchorsStillWork() throws {
        let text = """
            version: 1
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes: [{ name: all, match: { path_prefix: / }, upstream: app }]
            upstreams:
              - { name: app, servers: [127.0.0.1:9101, 127.0.0.1:9102], health: &h { path: /live, interval: 3s } }
              - { name: b, servers: [127.0.0.1:9201, 127.0.0.1:9202], health: *h }
            """
        let config = try ConfigLoader.load(text: text, file: "a.yaml").get().config
        #expect(config.upstream(named: "b")?.health?.path == "/live")
    }
}
