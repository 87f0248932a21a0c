import BallastConfig
import Testing
@testable import BallastControl

/// DNS rebinding and cross-site requests against the admin API, decided before any handler.
@Suite struct AdminRequestGuardTests {
    func guardian(_ listen: String = "127.0.0.1:9900", hosts: [String] = []) -> AdminRequestGuard {
        var admin = Admin()
        admin.listen = try! Address.parse(listen).get()
        admin.hosts = hosts
        return AdminRequestGuard(admin: admin)
    }

    func get(_ g: AdminRequestGuard, host: String?) -> AdminRequestGuard.Verdict {
        g.verdict(method: "GET", host: host, origin: nil, fetchSite: nil, contentType: nil, hasBody: false)
    }

    func status(_ verdict: AdminRequestGuard.Verdict) -> Int {
        if case .refuse(let status, _, _) = verdict { return status }
        return 200
    }

    @Test func theHostMustBeANameNoPageCanRebind() {
        let g = guardian()
        for host in ["127.0.0.1:9900", "localhost:9900", "LOCALHOST:9900", "[::1]:9900", "127.0.0.1", "localhost", "10.0.0.5:9900"] {
            #expect(get(g, host: host) == .allow, "\(host)")
        }
        for host in ["evil.example:9900", "evil.example", "localhost.evil.example:9900", "127.0.0.1.nip.io:9900", "[zz]:9900", "1.2.3:9900"] {
            #expect(status(get(g, host: host)) == 421, "\(host)")
        }
        // A client that sends no Host (HTTP/1.0 tools) is not a browser.
        #expect(get(g, host: nil) == .allow)
    }

    @Test func namedHostsAreAccepted() {
        let named = guardian("0.0.0.0:9900", hosts: ["ballast.internal", "LB1.example:9900"])
        #expect(get(named, host: "ballast.internal:9900") == .allow)
        #expect(get(named, host: "lb1.example:9900") == .allow)
        #expect(get(named, host: "10.0.0.21:9900") == .allow)
        #expect(status(get(named, host: "lb2.example:9900")) == 421)
        #expect(get(guardian("admin.local:9900"), host: "admin.local:9900") == .allow)
    }

    @Test func changesFromAnotherSiteAreRefused() {
        let g = guardian()
        func post(origin: String? = nil, site: String? = nil, type: String? = "application/yaml", body: Bool = true) -> Int {
            status(g.verdict(method: "POST", host: "127.0.0.1:9900", origin: origin, fetchSite: site, contentType: type, hasBody: body))
        }
        #expect(post() == 200)  // the CLI: no Origin, no Sec-Fetch-Site
        #expect(post(origin: "http://127.0.0.1:9900", site: "same-origin") == 200)  // the dashboard
        #expect(post(origin: "https://evil.example") == 403)
        #expect(post(origin: "http://127.0.0.1:3000") == 403)  // another local page, another origin
        #expect(post(origin: "http://127.0.0.1:9900", site: "cross-site") == 403)
        #expect(post(origin: "null") == 403)
        #expect(post(site: "cross-site") == 403)
        #expect(post(site: "same-site") == 403)
        // A "simple" cross-site request needs no preflight: text/plain and form types are refused.
        #expect(post(type: "text/plain") == 415)
        #expect(post(type: "application/x-www-form-urlencoded") == 415)
        #expect(post(type: nil) == 415)
        #expect(post(type: "application/json; charset=utf-8") == 200)
        #expect(post(type: nil, body: false) == 200)  // rollback has no body
        #expect(post(origin: "http://evil.example", body: false) == 403)
        // Reads are only subject to the Host check.
        #expect(g.verdict(method: "GET", host: "127.0.0.1:9900", origin: "http://evil.example", fetchSite: "cross-site", contentType: nil, hasBody: false) == .allow)
    }
}
