import BallastConfig
import BallastProxy
import Foundation
import Synchronization
import Testing

/// HTTP/2 from clients on a TLS listener (ALPN `h2`), with real clients: curl and nghttp
/// (Debian's nghttp2-client), and raw-frame floods from python3-h2's interpreter.
@Suite struct HTTP2Tests {
    func start(protocols: String = "") async throws -> (ProxyHarness, TestBackend, TestCertificates, String) {
        let certs = try TestCertificates()
        let (cert, key) = try certs.make("h2", days: 30)
        let backend = try await TestBackend.start("h2")
        let proxy = try await ProxyHarness.start {
            simpleConfig(port: $0, servers: [backend.address], listenerExtra: "    tls: { cert: \(cert), key: \(key) }\(protocols)")
        }
        return (proxy, backend, certs, cert)
    }

    @Test func curlSpeaksHTTP2AndEachStreamTakesTheSamePath() async throws {
        let (proxy, backend, certs, cert) = try await start()
        defer { Task { await proxy.stop(); await backend.stop() } }
        let url = "https://127.0.0.1:\(proxy.port)"
        let version = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_version}", url + "/"])
        #expect(version == "2")
        // Forwarded as HTTP/1.1 with our headers, its Host from :authority.
        let headers = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, url + "/headers"])
        #expect(headers.contains("x-forwarded-proto: https"), "\(headers)")
        #expect(headers.contains("host: 127.0.0.1:\(proxy.port)"), "\(headers)")
        // A body without a length (a stream of DATA frames) arrives whole.
        let upload = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-H", "Transfer-Encoding:", "-H", "Content-Length:",
                                                     "--data-binary", "@/etc/services", url + "/upload"])
        let size = try FileManager.default.attributesOfItem(atPath: "/etc/services")[.size] as? Int ?? -1
        #expect(upload.contains("\(size)"), "\(upload) for \(size) bytes")
        // A chunked answer of 1 MiB comes back as DATA frames, whole.
        let stream = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-o", "/dev/null", "-w", "%{size_download}",
                                                     url + "/stream/1048576"])
        #expect(stream == "1048576")
        // HEAD: the head only.
        let head = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-I", url + "/"])
        #expect(head.hasPrefix("HTTP/2 200"), "\(head)")
        // No route is the balancer's own 404, over HTTP/2 too.
        let missing = try await ProxyHarness.start { port in
            """
            version: 1
            listeners:
              - name: web
                listen: 127.0.0.1:\(port)
                tls: { cert: \(cert), key: \(certs.path("h2.key")) }
                routes:
                  - { name: only, match: { path_prefix: /only }, upstream: app }
            upstreams:
              - name: app
                servers: [\(backend.address)]
            """
        }
        defer { Task { await missing.stop() } }
        let status = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                                                     "https://127.0.0.1:\(missing.port)/elsewhere"])
        #expect(status == "2 404")
    }

    @Test func manyStreamsOnOneConnection() async throws {
        let (proxy, backend, certs, _) = try await start()
        defer { Task { await proxy.stop(); await backend.stop() } }
        let before = backend.requests.load(ordering: .relaxed)
        // nghttp: 100 requests on one connection, 50 streams at a time.
        let out = try certs.run("/usr/bin/nghttp", ["-n", "-s", "-m", "100", "-M", "50", "https://127.0.0.1:\(proxy.port)/"])
        #expect(out.contains("responseEnd"), "\(out.prefix(300))")
        #expect(backend.requests.load(ordering: .relaxed) - before == 100)
    }

    @Test func http1OnlyListenerNegotiatesHTTP11() async throws {
        let (proxy, backend, certs, cert) = try await start(protocols: "\n    protocols: [http1]")
        defer { Task { await proxy.stop(); await backend.stop() } }
        let version = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_version}",
                                                      "https://127.0.0.1:\(proxy.port)/"])
        #expect(version == "1.1")
    }

    /// h2c: HTTP/2 with prior knowledge on a cleartext listener that lists it; HTTP/1.1 clients
    /// on the same port are served as before, and a listener without it does not speak HTTP/2.
    @Test func h2cWithPriorKnowledgeWhereListed() async throws {
        let backend = try await TestBackend.start("h2c")
        let proxy = try await ProxyHarness.start {
            simpleConfig(port: $0, servers: [backend.address], listenerExtra: "    protocols: [h2c, http1]")
        }
        let plain = try await ProxyHarness.start { simpleConfig(port: $0, servers: [backend.address]) }
        defer { Task { await proxy.stop(); await plain.stop(); await backend.stop() } }
        let certs = try TestCertificates()
        let h2 = try certs.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                                                 "http://127.0.0.1:\(proxy.port)/"])
        #expect(h2 == "2 200")
        let forwarded = try certs.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "http://127.0.0.1:\(proxy.port)/headers"])
        #expect(forwarded.contains("x-forwarded-for: 127.0.0.1") && forwarded.contains("x-forwarded-proto: http"), "\(forwarded)")
        let h1 = try certs.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "http://127.0.0.1:\(proxy.port)/"])
        #expect(h1 == "1.1 200")
        let refused = try certs.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}",
                                                      "--max-time", "3", "http://127.0.0.1:\(plain.port)/"])
        #expect(refused != "2", "\(refused)")
    }

    static let flood = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/http2/flood.py").path

    func flood(_ port: Int, _ mode: String, _ count: Int) throws -> [String: Any] {
        let python = try python(with: "ssl", package: "python3")
        let result = try runTool(python, [Self.flood, String(port), mode, String(count)], package: "python3")
        guard let line = result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
              let report = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else { throw ToolError(description: "flood.py \(mode): \(result.output)") }
        return report
    }

    /// CVE-2023-44487: streams opened and reset at once cost the server work the client never
    /// waits for. The connection is ended with GOAWAY long before 20,000 of them, and the
    /// balancer goes on serving everyone else.
    @Test func aRapidResetFloodEndsTheConnection() async throws {
        let (proxy, backend, certs, cert) = try await start()
        defer { Task { await proxy.stop(); await backend.stop() } }
        let report = try flood(proxy.port, "rapid-reset", 20_000)
        #expect(report["goaway"] as? Bool == true, "\(report)")
        #expect((report["error_code"] as? Int ?? 0) != 0, "\(report)")
        #expect(backend.requests.load(ordering: .relaxed) < 2_000, "\(backend.requests.load(ordering: .relaxed)) reached the server")
        let version = try certs.run("/usr/bin/curl", ["-s", "--http2", "--cacert", cert, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                                                      "https://127.0.0.1:\(proxy.port)/"])
        #expect(version == "2 200")
    }

    /// The 2024 CONTINUATION flood: a header block that never ends, one frame at a time.
    @Test func aContinuationFloodEndsTheConnection() async throws {
        let (proxy, backend, _, _) = try await start()
        defer { Task { await proxy.stop(); await backend.stop() } }
        let report = try flood(proxy.port, "continuation", 10_000)
        // GOAWAY with a connection error (not NO_ERROR), and the connection closed.
        #expect(report["goaway"] as? Bool == true, "\(report)")
        #expect((report["error_code"] as? Int ?? 0) != 0, "\(report)")
        #expect(report["closed"] as? Bool == true, "\(report)")
    }
}
