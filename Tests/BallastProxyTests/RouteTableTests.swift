@testable import BallastConfig
import Testing
@testable import BallastProxy

/// `RouteTable` gives the answer of the ordered scan (each route's own `matches`, first match
/// wins) on generated tables and requests, and `BL018` finds the same shadowed routes as the
/// pairwise comparison it replaced.
@Suite struct RouteTableTests {
    static let hosts: [String?] = [nil, nil, nil, "a.example", "b.example"]
    static let prefixes: [String?] = [nil, nil, "/", "/a", "/a/", "/ab", "/a/b", "/b", "/api/", "/api/v1", "/é"]
    static let paths: [String?] = [nil, nil, nil, nil, "/a", "/a/b", "/api/v1", "/", "/b"]
    static let methodSets: [[String]?] = [nil, nil, nil, ["GET"], ["POST", "PUT"], ["PURGE"], ["GET", "PURGE"]]

    static func matches(seed: UInt64, count: Int) -> [Match] {
        var rng = SplitMix(seed)
        return (0..<count).map { _ in
            var match = Match()
            match.host = rng.pick(hosts)
            match.pathPrefix = rng.pick(prefixes)
            match.path = rng.pick(paths)
            match.methods = rng.pick(methodSets)
            return match
        }
    }

    static func listener(_ matches: [Match]) throws -> ListenerRuntime {
        var config = Config()
        var listener = Listener(name: "public", listen: Address(host: "127.0.0.1", port: 8080))
        listener.routes = matches.enumerated().map { i, match in
            var route = Route(name: "r\(i)", upstream: "app")
            route.match = match
            return route
        }
        config.listeners = [listener]
        var upstream = Upstream(name: "app")
        upstream.servers = [Server(address: Address(host: "127.0.0.1", port: 9))]
        config.upstreams = [upstream]
        return try #require(try RuntimeCompiler(loopCount: 1).compile(config, version: 1).listeners["public"])
    }

    static let requestPaths = ["/", "/a", "/a/", "/a/b", "/a/bc", "/ab", "/abc", "/b", "/b/x", "/api/", "/api/v1", "/api/v1/x",
                               "/api/v2", "/é", "/e\u{301}", "/x", "", "/A"]
    static let requestHosts = ["a.example", "A.Example:8080", "b.example", "c.example", "", "[::1]:80"]
    static let requestMethods = ["GET", "POST", "PUT", "DELETE", "PURGE", "BREW"]

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func aGeneratedTableAnswersAsTheOrderedScan(seed: UInt64) throws {
        let listener = try Self.listener(Self.matches(seed: seed, count: Int(seed % 4) * 20 + 5))
        var checked = 0
        for path in Self.requestPaths {
            for host in Self.requestHosts {
                for method in Self.requestMethods {
                    let scanned = listener.routes.firstIndex { $0.matches(method: method, path: path, host: host) }
                    let looked = listener.table.first(method: method, path: path, host: host)
                    #expect(looked == scanned, "\(method) \(host) \(path)")
                    checked += scanned == nil ? 0 : 1
                }
            }
        }
        #expect(checked > 0, "the generated table matched nothing: it tests nothing")
    }

    @Test func theFirstRouteInConfigOrderWinsWhereverItSitsInTheTrie() throws {
        var general = Match()
        general.pathPrefix = "/"
        var specific = Match()
        specific.pathPrefix = "/api/v1/"
        var hosted = Match()
        hosted.host = "a.example"
        hosted.pathPrefix = "/api/"
        let table = RouteTable([specific, hosted, general])
        #expect(table.first(method: "GET", path: "/api/v1/users", host: "a.example") == 0)
        #expect(table.first(method: "GET", path: "/api/v2", host: "A.EXAMPLE:443") == 1)
        #expect(table.first(method: "GET", path: "/api/v2", host: "b.example") == 2)
        #expect(RouteTable([general, specific]).first(method: "GET", path: "/api/v1/users", host: "a") == 0)
    }

    @Test func methodsExactPathsAndUnusualMethodsAreHonoured() {
        var getOnly = Match()
        getOnly.pathPrefix = "/x"
        getOnly.methods = ["GET"]
        var purge = Match()
        purge.pathPrefix = "/x"
        purge.methods = ["PURGE"]
        var exact = Match()
        exact.path = "/x"
        let table = RouteTable([getOnly, purge, exact])
        #expect(table.first(method: "GET", path: "/x/1", host: "") == 0)
        #expect(table.first(method: "PURGE", path: "/x/1", host: "") == 1)
        #expect(table.first(method: "POST", path: "/x", host: "") == 2)
        #expect(table.first(method: "POST", path: "/x/", host: "") == nil)
        #expect(table.first(method: "BREW", path: "/x", host: "") == 2)
        var contradictory = Match()
        contradictory.path = "/a"
        contradictory.pathPrefix = "/b"
        #expect(RouteTable([contradictory]).first(method: "GET", path: "/a", host: "") == nil, "a path outside its own prefix never matches")
    }

    @Test func tenThousandRoutesAreFoundByTheirPath() throws {
        let matches = (0..<10_000).map { i -> Match in
            var match = Match()
            match.pathPrefix = "/service-\(i)/"
            return match
        }
        let table = RouteTable(matches)
        #expect(table.first(method: "GET", path: "/service-9999/x", host: "h") == 9_999)
        #expect(table.first(method: "GET", path: "/service-10000/x", host: "h") == nil)
        #expect(table.first(method: "GET", path: "/service-1/x", host: "h") == 1)
    }

    /// The pairwise comparison BL018 made before it looked candidates up in the table.
    static func shadowedPairwise(_ routes: [Route]) -> [Int] {
        routes.indices.filter { j in routes[..<j].contains { ShadowedRoute.covers($0.match, routes[j].match) } }
    }

    @Test(arguments: [11, 12, 13, 14, 15, 16] as [UInt64])
    func shadowedRoutesAreTheOnesThePairwiseCheckFinds(seed: UInt64) throws {
        var config = Config()
        var listener = Listener(name: "public", listen: Address(host: "127.0.0.1", port: 8080))
        listener.routes = Self.matches(seed: seed, count: 40).enumerated().map { i, match in
            var route = Route(name: "r\(i)", upstream: "app")
            // Contradictory matches are a question of their own (the table drops them).
            if let path = match.path, let prefix = match.pathPrefix, !path.hasPrefix(prefix) {
                var kept = match
                kept.pathPrefix = nil
                route.match = kept
            } else {
                route.match = match
            }
            return route
        }
        config.listeners = [listener]
        let expected = Self.shadowedPairwise(listener.routes).map { "r\($0)" }
        let found = ShadowedRoute.check(config).compactMap { finding in
            finding.message.split(separator: "'").dropFirst().first.map(String.init)
        }
        #expect(found == expected)
        #expect(!expected.isEmpty, "nothing shadowed: the comparison tests nothing")
    }
}

/// A small seeded generator, so a failing table can be made again.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }
}
