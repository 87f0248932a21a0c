import BallastConfig
import BallastProxy
import Foundation
import NIOHTTP1
import Testing

/// TLS on every hop (issue 22) with real peers: openssl s_client and curl as clients, nginx as
/// a TLS upstream, certificates from a test CA made by openssl.
@Suite struct TLSEveryHopTests {
    func load(_ yaml: String) throws -> Config {
        try ConfigLoader.load(text: yaml, file: "tls.yaml").get().config
    }

    /// `openssl s_client` with `arguments`; the handshake's words (subject, protocol) or why it failed.
    func handshake(port: Int, _ arguments: [String]) throws -> String {
        try runTool("sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) \(arguments.joined(separator: " ")) </dev/null 2>&1"],
                    package: "openssl").output
    }

    // MARK: Listeners

    @Test func aCertificateIsChosenBySNIAndANameNoneCoversGetsTheDefaultAndIsCounted() async throws {
        _ = TestMetrics.registry
        let pki = try TestPKI()
        try pki.authority("ca")
        let a = try pki.issue("a", subject: "/CN=a.test", names: ["DNS:a.test"], by: "ca")
        let b = try pki.issue("b", subject: "/CN=b.test", names: ["DNS:*.b.test"], by: "ca")
        let backend = try await TestBackend.start("app")
        let port = try await freePort()
        let listener = "SNI\(port)"
        let config = try load(simpleConfig(port: port, servers: [backend.address], listenerExtra: """
                tls:
                  certificates: [ { cert: \(a.cert), key: \(a.key) }, { cert: \(b.cert), key: \(b.key) } ]
            """).replacingOccurrences(of: "name: public", with: "name: \(listener)"))
        #expect(TLSCheck.check(config).isEmpty, "\(TLSCheck.check(config))")
        let balancer = try LoadBalancer(config: config, threads: 1)
        try await balancer.start()
        #expect(try handshake(port: port, ["-servername", "a.test"]).contains("subject=CN = a.test"))
        #expect(try handshake(port: port, ["-servername", "www.b.test"]).contains("subject=CN = b.test"))
        let before = counter("ballast_tls_sni_unmatched_total", listener: listener)
        #expect(try handshake(port: port, ["-servername", "other.test"]).contains("subject=CN = a.test"))
        #expect(try handshake(port: port, ["-servername", "deep.www.b.test"]).contains("subject=CN = a.test"))
        #expect(counter("ballast_tls_sni_unmatched_total", listener: listener) == before + 2)
        // A client that verifies gets through by each name, with the CA alone.
        for name in ["a.test", "www.b.test"] {
            let body = try runTool("curl", ["-s", "--cacert", pki.path("ca.crt"), "--resolve", "\(name):\(port):127.0.0.1",
                                            "https://\(name):\(port)/headers"], package: "curl").output
            #expect(body.contains("x-forwarded-proto: https"), "\(name): \(body)")
        }
        // Both subjects are exported with their expiry.
        let metrics = TestMetrics.text
        for subject in ["CN=a.test", "CN=b.test"] {
            #expect(metrics.contains("ballast_tls_certificate_expiry_seconds{listener=\"\(listener)\",subject=\"\(subject)\"}"), "\(subject)")
        }
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    func counter(_ name: String, listener: String) -> Int {
        let prefix = "\(name){listener=\"\(listener)\"} "
        return TestMetrics.text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
    }

    @Test func minVersionThreeRefusesTLS12AndTheDefaultRefusesTLS11() async throws {
        let pki = try TestPKI()
        let leaf = try pki.issue("leaf", subject: "/CN=127.0.0.1", names: ["IP:127.0.0.1"], by: nil)
        let backend = try await TestBackend.start("app")
        let strict = try await freePort(), standard = try await freePort()
        let balancer = try LoadBalancer(config: try load(simpleConfig(port: strict, servers: [backend.address], listenerExtra: """
                tls: { cert: \(leaf.cert), key: \(leaf.key), min_version: "1.3" }
            """)), threads: 1)
        try await balancer.start()
        #expect(try handshake(port: strict, ["-tls1_3"]).contains("New, TLSv1.3"))
        let old = try handshake(port: strict, ["-tls1_2"])
        #expect(!old.contains("Cipher is ECDHE"), "TLS 1.2 served on a 1.3-only listener: \(old)")
        await balancer.shutdown(drainFor: .seconds(1))
        let second = try LoadBalancer(config: try load(simpleConfig(port: standard, servers: [backend.address], listenerExtra: """
                tls: { cert: \(leaf.cert), key: \(leaf.key) }
            """)), threads: 1)
        try await second.start()
        #expect(try handshake(port: standard, ["-tls1_2"]).contains("Cipher is ECDHE"))
        let tls11 = try handshake(port: standard, ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
        #expect(tls11.contains("Cipher is (NONE)") || !tls11.contains("Cipher is "), "\(tls11)")
        await second.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    /// A returning client resumes its session (an abbreviated handshake, a ticket the listener
    /// issued) instead of paying a full one; with two certificates too (the SNI path).
    @Test func aReturningClientResumesItsSession() async throws {
        let pki = try TestPKI()
        try pki.authority("ca")
        let a = try pki.issue("a", subject: "/CN=a.test", names: ["DNS:a.test"], by: "ca")
        let b = try pki.issue("b", subject: "/CN=b.test", names: ["DNS:b.test"], by: "ca")
        let backend = try await TestBackend.start("app")
        let port = try await freePort()
        let balancer = try LoadBalancer(config: try load(simpleConfig(port: port, servers: [backend.address], listenerExtra: """
                tls:
                  certificates: [ { cert: \(a.cert), key: \(a.key) }, { cert: \(b.cert), key: \(b.key) } ]
            """)), threads: 1)
        try await balancer.start()
        let session = pki.path("session.pem")
        let first = try handshake(port: port, ["-tls1_2", "-servername", "b.test", "-sess_out", session])
        #expect(first.contains("New, TLSv1.2"), "\(first)")
        let again = try handshake(port: port, ["-tls1_2", "-servername", "b.test", "-sess_in", session])
        #expect(again.contains("Reused, TLSv1.2"), "\(again)")
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    @Test func clientCertificatesAreRequiredAndTheirSubjectReachesTheUpstreamUnforged() async throws {
        let pki = try TestPKI()
        try pki.authority("clients")
        try pki.authority("strangers")
        let server = try pki.issue("server", subject: "/CN=127.0.0.1", names: ["IP:127.0.0.1"], by: nil)
        let alice = try pki.issue("alice", subject: "/O=Example/CN=alice", by: "clients")
        let mallory = try pki.issue("mallory", subject: "/CN=mallory", by: "strangers")
        let backend = try await TestBackend.start("app")
        let port = try await freePort()
        let balancer = try LoadBalancer(config: try load(simpleConfig(port: port, servers: [backend.address], listenerExtra: """
                tls: { cert: \(server.cert), key: \(server.key), client_ca: \(pki.path("clients.crt")) }
            """)), threads: 1)
        try await balancer.start()
        func curl(_ extra: [String]) throws -> (status: Int32, output: String) {
            try runTool("curl", ["-s", "--max-time", "5", "--cacert", server.cert] + extra + ["https://127.0.0.1:\(port)/headers"], package: "curl")
        }
        let signed = try curl(["--cert", alice.cert, "--key", alice.key, "-H", "X-Client-Cert-Subject: CN=admin"])
        #expect(signed.output.contains("x-client-cert-subject: CN=alice,O=Example"), "\(signed.output)")
        #expect(!signed.output.contains("CN=admin"), "a client-sent subject reached the upstream: \(signed.output)")
        let without = try curl([])
        #expect(without.status != 0 && !without.output.contains("x-forwarded-proto"), "no certificate: \(without)")
        let stranger = try curl(["--cert", mallory.cert, "--key", mallory.key])
        #expect(stranger.status != 0 && !stranger.output.contains("x-forwarded-proto"), "a certificate of another CA: \(stranger)")
        // HTTP/2 streams carry the subject too (they ask their connection).
        let h2 = try curl(["--http2", "--cert", alice.cert, "--key", alice.key])
        #expect(h2.output.contains("x-client-cert-subject: CN=alice,O=Example"), "\(h2.output)")
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    @Test func aForgedSubjectNeverReachesTheUpstreamWithoutClientCertificates() async throws {
        let backend = try await TestBackend.start("app")
        let harness = try await ProxyHarness.start { simpleConfig(port: $0, servers: [backend.address]) }
        let answer = try await fetch(port: harness.port, .GET, "/headers", headers: [("X-Client-Cert-Subject", "CN=admin")])
        #expect(answer.status == 200)
        #expect(!answer.text.lowercased().contains("x-client-cert-subject"), "\(answer.text)")
        await harness.stop()
        await backend.stop()
    }

    @Test func aHandshakeThatNeverComesIsCutAtTheHeaderTimeout() async throws {
        let pki = try TestPKI()
        let leaf = try pki.issue("leaf", subject: "/CN=127.0.0.1", names: ["IP:127.0.0.1"], by: nil)
        let backend = try await TestBackend.start("app")
        let port = try await freePort()
        let balancer = try LoadBalancer(config: try load(simpleConfig(port: port, servers: [backend.address], listenerExtra: """
                tls: { cert: \(leaf.cert), key: \(leaf.key) }
                timeouts: { client_header: 1s }
            """)), threads: 1)
        try await balancer.start()
        let socket = try RawSocket(port: port, timeout: 8)
        defer { socket.close() }
        let started = ContinuousClock.now
        // Nothing sent: the balancer closes within about the header timeout (a read that ends
        // before the socket's own 8 s timeout is the close), not never.
        #expect(socket.read(upTo: 1).isEmpty)
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(900) && waited < .seconds(5), "a silent TLS client was closed after \(waited)")
        await balancer.shutdown(drainFor: .seconds(1))
        await backend.stop()
    }

    // MARK: Upstreams

    func upstreamConfig(port: Int, backend: String, tls: String, health: Bool = true) -> String {
        simpleConfig(port: port, servers: [backend], extraUpstream: (health ? "    health: { path: /healthz, interval: 1s, timeout: 500ms }\n" : "") + "    tls: \(tls)")
    }

    @Test func anUpstreamOverTLSIsVerifiedAndItsConnectionsArePooled() async throws {
        let pki = try TestPKI()
        try pki.authority("internal")
        try pki.authority("other")
        let server = try pki.issue("backend", subject: "/CN=backend.test", names: ["DNS:backend.test"], by: "internal")
        let nginx = try await NginxTLSBackend.start(cert: server.cert, key: server.key)
        defer { nginx.stop() }
        let port = try await freePort()
        let good = try load(upstreamConfig(port: port, backend: nginx.address, tls: "{ ca: \(pki.path("internal.crt")), server_name: backend.test }"))
        #expect(await Preflight.run(good).isEmpty)
        let balancer = try LoadBalancer(config: good, threads: 1)
        try await balancer.start()
        var connections: Set<Substring> = []
        for _ in 0..<60 {
            let answer = try await fetch(port: port, .GET, "/")
            #expect(answer.status == 200)
            #expect(answer.text.contains("sni=backend.test"), "\(answer.text)")
            if let c = answer.text.split(separator: " ").first(where: { $0.hasPrefix("connection=") }) { connections.insert(c) }
        }
        // Sequential requests reuse one pooled TLS connection: no handshake per request.
        #expect(!connections.isEmpty && connections.count <= 2, "\(connections.count) TLS connections for 60 requests")
        // The wrong CA: 502 for requests, and preflight says which setting.
        let wrongCA = try load(upstreamConfig(port: port, backend: nginx.address, tls: "{ ca: \(pki.path("other.crt")), server_name: backend.test }"))
        let caFindings = await Preflight.run(wrongCA)
        #expect(caFindings.contains { $0.ruleID == "BL034" && $0.message.contains("not signed by the CA") }, "\(caFindings)")
        let wrongName = try load(upstreamConfig(port: port, backend: nginx.address, tls: "{ ca: \(pki.path("internal.crt")), server_name: elsewhere.test }"))
        let nameFindings = await Preflight.run(wrongName)
        #expect(nameFindings.contains { $0.ruleID == "BL034" && $0.message.contains("does not name") }, "\(nameFindings)")
        let noHealth = try load(upstreamConfig(port: port, backend: nginx.address, tls: "{ ca: \(pki.path("other.crt")), server_name: backend.test }", health: false))
        try await balancer.apply(noHealth)
        #expect(try await fetch(port: port, .GET, "/").status == 502)
        // Back to the right CA: served again (the pool of the wrong config is not reused).
        try await balancer.apply(good)
        #expect(try await fetch(port: port, .GET, "/").status == 200)
        await balancer.shutdown(drainFor: .seconds(1))
    }

    @Test func anUpstreamThatRequiresAClientCertificateGetsOne() async throws {
        _ = TestMetrics.registry
        let pki = try TestPKI()
        try pki.authority("internal")
        try pki.authority("balancers")
        let server = try pki.issue("backend", subject: "/CN=backend.test", names: ["DNS:backend.test"], by: "internal")
        let client = try pki.issue("lb", subject: "/CN=ballast-lb", by: "balancers")
        let nginx = try await NginxTLSBackend.start(cert: server.cert, key: server.key, clientCA: pki.path("balancers.crt"))
        defer { nginx.stop() }
        let port = try await freePort()
        let anonymous = try load(upstreamConfig(port: port, backend: nginx.address, tls: "{ ca: \(pki.path("internal.crt")), server_name: backend.test }"))
        let refused = await Preflight.run(anonymous)
        #expect(refused.contains { $0.ruleID == "BL034" }, "\(refused)")
        let config = try load(upstreamConfig(port: port, backend: nginx.address,
                                             tls: "{ ca: \(pki.path("internal.crt")), server_name: backend.test, cert: \(client.cert), key: \(client.key) }"))
        #expect(TLSCheck.check(config).isEmpty, "\(TLSCheck.check(config))")
        #expect(await Preflight.run(config).isEmpty)
        let balancer = try LoadBalancer(config: config, threads: 1)
        try await balancer.start()
        let answer = try await fetch(port: port, .GET, "/")
        #expect(answer.status == 200)
        #expect(answer.text.contains("client=CN=ballast-lb"), "\(answer.text)")
        #expect(TestMetrics.text.contains("ballast_tls_certificate_expiry_seconds{listener=\"upstream:app\",subject=\"CN=ballast-lb\"}"))
        await balancer.shutdown(drainFor: .seconds(1))
    }

    // MARK: Files

    @Test func filesThatCannotWorkAreFindingsThatSayWhich() async throws {
        let pki = try TestPKI()
        try pki.authority("ca")
        let leaf = try pki.issue("leaf", subject: "/CN=a.test", names: ["DNS:a.test"], by: "ca")
        let lonely = try pki.issue("lonely", subject: "/CN=client", by: "ca")
        // A leaf given as the client CA, and a route for a host no certificate covers.
        let listener = try load(simpleConfig(port: 8443, servers: ["127.0.0.1:9101"], listenerExtra: """
                tls: { cert: \(leaf.cert), key: \(leaf.key), client_ca: \(lonely.cert) }
            """).replacingOccurrences(of: "match: { path_prefix: / }", with: "match: { host: c.test, path_prefix: / }"))
        let ids = TLSCheck.check(listener).map(\.ruleID)
        #expect(ids.sorted() == ["BL067", "BL068"], "\(TLSCheck.check(listener))")
        // An upstream client key that is not the certificate's, and a CA file that does not exist.
        let upstream = try load(simpleConfig(port: 8080, servers: ["127.0.0.1:9101"], extraUpstream: """
                tls: { ca: \(pki.path("missing.crt")), server_name: a.test, cert: \(lonely.cert), key: \(leaf.key) }
            """))
        let found = TLSCheck.check(upstream)
        #expect(found.map(\.ruleID).sorted() == ["BL036", "BL037"], "\(found)")
        #expect(found.contains { $0.message.contains("missing.crt") && $0.message.contains("does not exist") })
        // The balancer refuses to start on them, and says which file.
        #expect(throws: (any Error).self) { _ = try LoadBalancer(config: upstream, threads: 1) }
    }
}
