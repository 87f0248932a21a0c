import BallastConfig
import Testing
@testable import BallastProxy

/// `RequestAdmission`: the route a request takes, a canary's own routes, and the balancer's
/// own answers (404, 429) with whether the connection survives them.
@Suite struct RequestAdmissionTests {
    static func runtime(_ routes: String, rateLimit: String = "") throws -> ProxyRuntime {
        let yaml = """
        version: 1
        listeners:
          - name: public
            listen: 127.0.0.1:8080
            routes:
        \(routes)
        upstreams:
          - name: app
            servers: [127.0.0.1:1]
          - name: other
            servers: [127.0.0.1:2]
        """
        let config = try ConfigLoader.load(text: yaml, file: "t.yaml").get().config
        return try RuntimeCompiler(loopCount: 1).compile(config, version: 1)
    }

    static let stable = """
          - { name: api, match: { path_prefix: /api/ }, upstream: app, rate_limit: { per_client: 1/s, burst: 2 } }
          - { name: admin, match: { path_prefix: /admin/, methods: [GET] }, upstream: other }
    """

    func route(_ method: String, _ path: String, hasBody: Bool = false, wantsClose: Bool = false,
               on runtime: ProxyRuntime, canary: ProxyRuntime? = nil) -> RequestAdmission.Routing {
        RequestAdmission.route(method: method, path: path, host: "a", hasBody: hasBody, wantsClose: wantsClose,
                               listener: runtime.listeners["public"]!, canary: canary?.listeners["public"])
    }

    @Test func aMatchingRouteIsTakenAndItsPolicyComesWithIt() throws {
        let runtime = try Self.runtime(Self.stable)
        guard case .route(let api, let canary) = route("POST", "/api/login", on: runtime) else { Issue.record("no route"); return }
        #expect(api.config.name == "api" && !canary && api.policy.upstream == "app")
        guard case .route(let admin, _) = route("GET", "/admin/x", on: runtime) else { Issue.record("no route"); return }
        #expect(admin.config.name == "admin" && admin.policy.upstream == "other")
    }

    @Test func noRouteIs404ThatClosesOnlyWhenABodyOrTheClientSaysSo() throws {
        let runtime = try Self.runtime(Self.stable)
        let cases: [(String, String, Bool, Bool, Bool)] = [
            ("GET", "/nothing", false, false, false),
            ("POST", "/admin/x", false, false, false),  // the method does not match
            ("POST", "/nothing", true, false, true),    // an unread body cannot be skipped
            ("GET", "/nothing", false, true, true),
        ]
        for (method, path, hasBody, wantsClose, closes) in cases {
            guard case .refused(let refusal) = route(method, path, hasBody: hasBody, wantsClose: wantsClose, on: runtime) else {
                Issue.record("\(method) \(path) was routed"); continue
            }
            #expect(refusal == .init(status: 404, error: "no_route", message: "no route matches \(method) \(path)", close: closes))
        }
    }

    @Test func aCanaryRequestIsRoutedByTheCanaryConfigAlone() throws {
        let stable = try Self.runtime(Self.stable)
        let canary = try Self.runtime("""
              - { name: api-v2, match: { path_prefix: /api/v2/ }, upstream: other }
        """)
        guard case .route(let found, let isCanary) = route("GET", "/api/v2/x", on: stable, canary: canary) else {
            Issue.record("no route"); return
        }
        #expect(found.config.name == "api-v2" && isCanary)
        guard case .refused(let refusal) = route("GET", "/admin/x", on: stable, canary: canary) else {
            Issue.record("the canary request was routed by the stable config"); return
        }
        #expect(refusal.status == 404)
    }

    @Test func theRateLimitAnswers429WithRetryAfterOncePerClientBurstIsSpent() throws {
        let runtime = try Self.runtime(Self.stable)
        guard case .route(let api, _) = route("GET", "/api/x", on: runtime) else { Issue.record("no route"); return }
        #expect(RequestAdmission.rateLimit(api, client: "10.0.0.1", hasBody: false, now: 0) == nil)
        #expect(RequestAdmission.rateLimit(api, client: "10.0.0.1", hasBody: false, now: 0) == nil)
        let refusal = RequestAdmission.rateLimit(api, client: "10.0.0.1", hasBody: true, now: 0)
        #expect(refusal == .init(status: 429, error: "rate_limited", message: "too many requests from this client", close: true, retryAfter: 1))
        #expect(RequestAdmission.rateLimit(api, client: "10.0.0.2", hasBody: false, now: 0) == nil, "another client has its own bucket")
        #expect(RequestAdmission.rateLimit(api, client: "10.0.0.1", hasBody: false, now: 1_000_000_000) == nil, "a second refills one token")
        guard case .route(let admin, _) = route("GET", "/admin/x", on: runtime) else { Issue.record("no route"); return }
        for _ in 0..<100 { #expect(RequestAdmission.rateLimit(admin, client: "10.0.0.1", hasBody: false, now: 0) == nil) }
    }
}
