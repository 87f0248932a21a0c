import Foundation
import Testing
@testable import BallastConfig

@Suite struct ConfigDiffTests {
    func config(_ text: String) throws -> Config { try ConfigLoader.load(text: text, file: "t").get().config }

    func diff(_ change: (String) -> String) throws -> ConfigDiff {
        try ConfigDiff(old: config(Config.defaultStackYAML), new: config(change(Config.defaultStackYAML)))
    }

    @Test func identicalConfigsHaveNoChanges() throws {
        #expect(try diff { $0 }.isEmpty)
        #expect(try diff { $0 }.impact == .none)
    }

    @Test func theSeedIncidentIsShownAsEveryServerReplaced() throws {
        // The postmortem's change: the balancer pointed at the wrong ports.
        let d = try diff { $0.replacingOccurrences(of: ":910", with: ":920") }
        #expect(d.impact == .high)
        let change = try #require(d.changes.first { $0.subject == "upstream auth" })
        #expect(change.description.contains("removed 127.0.0.1:9101, 127.0.0.1:9102, 127.0.0.1:9103"))
        #expect(change.description.contains("127.0.0.1:9101 33% → 0%"))
        #expect(change.blastRadius == "routes auth-credentials, auth (upstream auth) keeps none of its 3 server(s): 100% of its traffic moves to servers that never served it")
    }

    /// TLS and protocol changes: what clients and servers that do not follow lose.
    @Test func tlsChangesSayWhoCanNoLongerConnect() throws {
        let listen = "    listen: 127.0.0.1:8080"
        let started = try diff { $0.replacingOccurrences(of: listen, with: listen + "\n    tls: { cert: a.pem, key: a.key }") }
        let start = try #require(started.changes.first { $0.description.hasPrefix("starts TLS") })
        #expect(start.blastRadius == "clients of http://127.0.0.1:8080 can no longer connect" && started.impact == .high)
        // h2 comes with TLS by default: the protocol line says so, low (HTTP/1.1 stays).
        #expect(started.changes.contains { $0.description == "protocols http1 → h2, http1" && $0.impact == .low })
        let withTLS = Config.defaultStackYAML.replacingOccurrences(of: listen, with: listen + "\n    tls: { cert: a.pem, key: a.key }")
        let stricter = try ConfigDiff(old: config(withTLS), new: config(withTLS.replacingOccurrences(of: "key: a.key }", with: "key: a.key, min_version: \"1.3\", client_ca: ca.pem }")))
        #expect(stricter.changes.contains { $0.description == "TLS min_version 1.2 → 1.3" && $0.impact == .high })
        #expect(stricter.changes.contains { $0.description.hasPrefix("client certificates not asked → signed by ca.pem") && $0.impact == .high })
        let upstream = try diff { $0.replacingOccurrences(of: "    panic_threshold_percent: 50", with: "    panic_threshold_percent: 50\n    tls: { ca: ca.pem, server_name: auth.internal }") }
        let change = try #require(upstream.changes.first { $0.description.hasPrefix("TLS to the servers") })
        #expect(change.description == "TLS to the servers off → on (CA ca.pem, name auth.internal)" && change.impact == .high)
    }

    @Test func losingServersShowsLostCapacity() throws {
        let d = try diff { $0.replacingOccurrences(of: "      - { address: 127.0.0.1:9103, weight: 1 }\n", with: "") }
        #expect(d.changes.first?.blastRadius == "routes auth-credentials, auth (upstream auth) loses 1 of 3 server(s): capacity -33%")
        #expect(d.changes.first?.description.contains("127.0.0.1:9101 33% → 50%") == true)
    }

    @Test func keepaliveChangesNameEachSettingThatMoved() throws {
        let d = try diff {
            $0.replacingOccurrences(of: "keepalive: { max_idle_per_server: 64, idle_timeout: 50s, server_idle_timeout: 60s }",
                                    with: "keepalive: { max_idle_per_server: 32, idle_timeout: 50s, server_idle_timeout: 60s, pipeline_depth: 4 }")
        }
        let change = try #require(d.changes.first { $0.subject == "upstream auth" })
        #expect(change.description == "keep-alive max idle per server 64 → 32, pipeline depth 1 → 4")
        #expect(d.impact == .low)
    }

    @Test func weightChangesShowTrafficShares() throws {
        let d = try diff { $0.replacingOccurrences(of: "{ address: 127.0.0.1:9101, weight: 1 }", with: "{ address: 127.0.0.1:9101, weight: 2 }") }
        let change = try #require(d.changes.first)
        #expect(change.description.contains("127.0.0.1:9101 weight 1 → 2"))
        #expect(change.description.contains("127.0.0.1:9101 33% → 50%"))
        #expect(change.description.contains("127.0.0.1:9102 33% → 25%"))
        #expect(d.impact == .low)
    }

    @Test func routesAddedRemovedRepointedAndReordered() throws {
        // Without the explicit alerts, which name the route this test renames.
        let base = Config.defaultStackYAML.components(separatedBy: "\n# The alert engine")[0]
        let twoUpstreams = base.replacingOccurrences(
            of: "rollout:", with: "  - { name: other, servers: [127.0.0.1:9301, 127.0.0.1:9302], health: { path: /healthz } }\nrollout:")
        let old = try config(twoUpstreams.replacingOccurrences(of: "\nupstreams:", with: """

                  - { name: rest, match: { path_prefix: / }, upstream: other }
            upstreams:
            """))
        let repointed = try ConfigDiff(old: old, new: config(twoUpstreams.replacingOccurrences(of: "\nupstreams:", with: """

                  - { name: rest, match: { path_prefix: / }, upstream: auth }
            upstreams:
            """)))
        #expect(repointed.changes.contains { $0.subject == "route public/rest" && $0.description == "re-pointed from upstream other to auth" })
        let removed = try ConfigDiff(old: old, new: config(twoUpstreams))
        let change = try #require(removed.changes.first { $0.subject == "route public/rest" })
        #expect(change.blastRadius == "its requests now get 404")
        let removedAuth = try ConfigDiff(old: old, new: config(
            twoUpstreams.replacingOccurrences(of: "upstream: auth", with: "upstream: other").replacingOccurrences(of: "name: auth\n        match", with: "name: rest\n        match").replacingOccurrences(of: "path_prefix: /auth/", with: "path_prefix: /")))
        #expect(removedAuth.changes.contains { $0.subject == "route public/auth" && $0.blastRadius == "its requests now go to route 'rest' (upstream other)" })
    }

    @Test func aNewHealthPathIsHighImpact() throws {
        let d = try diff { $0.replacingOccurrences(of: "path: /healthz", with: "path: /health") }
        #expect(d.impact == .high)
        #expect(d.changes.first?.blastRadius?.contains("all are marked down") == true)
    }

    @Test func aListenerMoveIsHighImpact() throws {
        let d = try diff { $0.replacingOccurrences(of: "listen: 127.0.0.1:8080", with: "listen: 127.0.0.1:8081") }
        #expect(d.changes.map(\.subject) == ["listener public"])
        #expect(d.impact == .high)
    }
}
