import BallastConfig
import BallastProxy
import Foundation
import NIOHTTP1
import Testing

/// Certificates made by openssl for each test, in a temporary directory.
struct TestCertificates {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A self-signed certificate for 127.0.0.1 valid for `days`, and its key.
    func make(_ name: String, days: Int) throws -> (cert: String, key: String) {
        let cert = path("\(name).crt"), key = path("\(name).key")
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                     "-days", String(days), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        return (cert, key)
    }

    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite struct TLSTests {
    func config(port: Int, backend: String, cert: String, key: String) throws -> Config {
        try ConfigLoader.load(text: simpleConfig(port: port, servers: [backend], listenerExtra: "    tls: { cert: \(cert), key: \(key) }"),
                              file: "tls.yaml").get().config
    }

    @Test func aTLSListenerTerminatesHTTPSAndSaysSoUpstream() async throws {
        let certs = try TestCertificates()
        let (cert, key) = try certs.make("good", days: 90)
        let a = try await TestBackend.start("a")
        let port = try await freePort()
        let config = try config(port: port, backend: a.address, cert: cert, key: key)
        #expect(TLSCheck.check(config).isEmpty)
        let balancer = try LoadBalancer(config: config, threads: 1)
        try await balancer.start()
        let answer = try certs.run("/usr/bin/curl", ["-s", "--cacert", cert, "https://127.0.0.1:\(port)/headers"])
        #expect(answer.contains("x-forwarded-proto: https"), "\(answer)")
        // Plain HTTP on a TLS port gets nothing useful.
        #expect(!(try certs.run("/usr/bin/curl", ["-s", "--max-time", "2", "http://127.0.0.1:\(port)/headers"])).contains("x-forwarded"))
        await balancer.shutdown(drainFor: .seconds(1))
        await a.stop()
    }

    /// TLS 1.0/1.1 (RFC 8996), static-RSA key exchange and CBC suites are refused; TLS 1.2 with
    /// ECDHE and AES-GCM or ChaCha20 and TLS 1.3 are served. openssl s_client, as a scanner
    /// (testssl.sh, sslyze) would offer each.
    @Test(arguments: [
        ("-tls1_3", "", true),
        ("-tls1_2", "ECDHE-RSA-AES128-GCM-SHA256", true),
        ("-tls1_2", "ECDHE-RSA-CHACHA20-POLY1305", true),
        ("-tls1_2", "ECDHE-RSA-AES128-SHA", false),
        ("-tls1_2", "AES128-GCM-SHA256", false),
        ("-tls1_2", "AES128-SHA", false),
        ("-tls1_2", "DES-CBC3-SHA:@SECLEVEL=0", false),
        ("-tls1_1", "DEFAULT:@SECLEVEL=0", false),
        ("-tls1", "DEFAULT:@SECLEVEL=0", false),
    ])
    func onlyModernProtocolsAndForwardSecretAEADSuitesAreServed(_ version: String, _ cipher: String, _ served: Bool) async throws {
        let certs = try TestCertificates()
        let (cert, key) = try certs.make("suites", days: 90)
        let a = try await TestBackend.start("a")
        let port = try await freePort()
        let balancer = try LoadBalancer(config: try config(port: port, backend: a.address, cert: cert, key: key), threads: 1)
        try await balancer.start()
        let cipherOption = cipher.isEmpty ? "" : "-cipher '\(cipher)'"
        let shown = try runTool("sh", ["-c", "openssl s_client -brief -connect 127.0.0.1:\(port) \(version) \(cipherOption) </dev/null 2>&1"],
                                package: "openssl").output
        let negotiated = shown.contains("Protocol version:") && shown.contains("Ciphersuite:")
        #expect(negotiated == served, "\(version) \(cipher): \(shown.prefix(400))")
        await balancer.shutdown(drainFor: .seconds(1))
        await a.stop()
    }

    @Test func unusableMismatchedAndExpiringFilesAreFindings() throws {
        let certs = try TestCertificates()
        let (cert, key) = try certs.make("one", days: 90)
        let (_, otherKey) = try certs.make("two", days: 90)
        let (soon, soonKey) = try certs.make("soon", days: 5)
        func ids(_ cert: String, _ key: String) throws -> [String] {
            TLSCheck.check(try config(port: 8443, backend: "127.0.0.1:9101", cert: cert, key: key)).map(\.ruleID)
        }
        #expect(try ids(certs.path("missing.crt"), key) == ["BL036"])
        #expect(try ids(cert, certs.path("missing.key")) == ["BL036"])
        try "not a certificate".write(toFile: certs.path("junk.crt"), atomically: true, encoding: .utf8)
        #expect(try ids(certs.path("junk.crt"), key) == ["BL036"])
        #expect(try ids(cert, otherKey) == ["BL037"])
        #expect(try ids(soon, soonKey) == ["BL038"])
        let later = Date().addingTimeInterval(100 * 86_400)
        #expect(TLSCheck.check(try config(port: 8443, backend: "127.0.0.1:9101", cert: cert, key: key), now: later).map(\.ruleID) == ["BL039"])
        let finding = try #require(TLSCheck.check(try config(port: 8443, backend: "127.0.0.1:9101", cert: cert, key: otherKey)).first)
        #expect(finding.location?.line == 6)  // the `tls:` line
    }

    @Test func aListenerWithABrokenKeyIsRefusedAndChangesNothing() async throws {
        let certs = try TestCertificates()
        let (cert, _) = try certs.make("one", days: 90)
        let (_, otherKey) = try certs.make("two", days: 90)
        let a = try await TestBackend.start("a")
        let port = try await freePort()
        let plain = try ConfigLoader.load(text: simpleConfig(port: port, servers: [a.address]), file: "p").get().config
        let balancer = try LoadBalancer(config: plain, threads: 1)
        try await balancer.start()
        await #expect(throws: LoadBalancer.ApplyError.self) {
            try await balancer.apply(try config(port: port, backend: a.address, cert: cert, key: otherKey))
        }
        #expect(balancer.version == 1)
        #expect(try await fetch(port: port, .GET, "/").status == 200)
        await balancer.shutdown(drainFor: .seconds(1))
        await a.stop()
    }
}
