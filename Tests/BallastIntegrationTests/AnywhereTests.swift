import BallastConfig
import BallastControl
import BallastProxy
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// Ballast as a user runs it, far from the repository: relative paths resolve against the config
/// file from any working directory, in every command; a certificate renewed in place is served
/// after a reload; the probes answer without a token.
@Suite(.serialized) struct AnywhereTests {
    /// Runs the built `ballast` in `directory` with `arguments`; its exit status and output.
    /// The wait runs on a dispatch queue, not on one of the few Swift concurrency threads the
    /// other suites need.
    @discardableResult
    func ballast(_ arguments: [String], in directory: String, environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.ballastNow(arguments, in: directory, environment: environment) })
            }
        }
    }

    func ballastNow(_ arguments: [String], in directory: String, environment: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A config in `root/conf/` whose TLS files and runbook are written relative to it.
    struct Layout {
        let root: String
        var conf: String { root + "/conf" }
        var config: String { conf + "/ballast.yaml" }
        var cert: String { conf + "/certs/lb.crt" }
        var key: String { conf + "/certs/lb.key" }
        var runbook: String { conf + "/runbooks/app-down.md" }

        init(listen: Int, admin: Int, backends: [String]) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-anywhere-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: root + "/conf/certs", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root + "/conf/runbooks", withIntermediateDirectories: true)
            try makeCertificate(serial: 1)
            try "---\nalerts: [AppDown]\nowner: oncall\nreviewed: \(Self.today)\n---\n# AppDown\nLook at upstream 'app'.\n"
                .write(toFile: runbook, atomically: true, encoding: .utf8)
            try """
                version: 1
                admin: { listen: 127.0.0.1:\(admin) }
                listeners:
                  - name: public
                    listen: 127.0.0.1:\(listen)
                    tls: { cert: certs/lb.crt, key: ./certs/lb.key }
                    routes:
                      - { name: all, match: { path_prefix: / }, upstream: app }
                upstreams:
                  - name: app
                    servers: [\(backends.joined(separator: ", "))]
                    health: { path: /healthz, interval: 200ms, timeout: 150ms }
                alerts:
                  rules:
                    - { name: AppDown, signal: healthy_share, upstream: app, below: 50%, runbook: runbooks/app-down.md }

                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        static var today: String { ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate]) }

        /// A self-signed certificate for 127.0.0.1 with this serial, written over the same paths (as certbot renews).
        func makeCertificate(serial: Int) throws {
            let result = try runTool("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key + ".new", "-out", cert + ".new",
                                                 "-days", "30", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                                                 "-set_serial", String(serial)], package: "openssl")
            #expect(result.status == 0, "\(result.output)")
            _ = rename(key + ".new", key)
            _ = rename(cert + ".new", cert)
        }
    }

    /// The serial number of the certificate a new TLS connection to `port` gets (openssl s_client).
    func servedSerial(port: Int) throws -> String {
        let shown = try runTool("sh", ["-c", "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -serial"],
                                package: "openssl")
        return shown.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func everyCommandResolvesPathsAgainstTheConfigFile() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path), "build the ballast executable first (scripts/test does)")
        let layout = try Layout(listen: 8443, admin: 9900, backends: ["127.0.0.1:9101", "127.0.0.1:9102"])
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        // The same file from three working directories, named three ways.
        for (directory, path) in [(layout.root, "conf/ballast.yaml"), ("/", layout.config), (layout.conf, "ballast.yaml"), (layout.conf, "./ballast.yaml")] {
            let result = try await ballast(["check", "--strict", path], in: directory)
            #expect(result.status == 0, "check from \(directory): \(result.output)")
            #expect(result.output.contains(": ok"), "\(result.output)")
        }
        // Findings name the path as written and as resolved.
        try FileManager.default.moveItem(atPath: layout.runbook, toPath: layout.runbook + ".away")
        let missing = try await ballast(["check", "conf/ballast.yaml"], in: layout.root)
        #expect(missing.status == 1)
        #expect(missing.output.contains("[BL042] runbook 'runbooks/app-down.md' (\(layout.runbook)) of alert 'AppDown' does not exist"), "\(missing.output)")
        try FileManager.default.moveItem(atPath: layout.runbook + ".away", toPath: layout.runbook)
        try FileManager.default.moveItem(atPath: layout.cert, toPath: layout.cert + ".away")
        let noCert = try await ballast(["check", layout.config], in: "/")
        #expect(noCert.output.contains("certificate 'certs/lb.crt' (\(layout.cert)) does not exist"), "\(noCert.output)")
        try FileManager.default.moveItem(atPath: layout.cert + ".away", toPath: layout.cert)
        // docs writes from one directory and checks from another, with the runbook findings resolved the same way.
        let written = try await ballast(["docs", "--config", "conf/ballast.yaml", "--out", "topology.md"], in: layout.root)
        #expect(written.status == 0, "\(written.output)")
        let checked = try await ballast(["docs", "--check", layout.root + "/topology.md", "--config", "ballast.yaml"], in: layout.conf)
        #expect(checked.status == 0, "\(checked.output)")
        // alerts export reads the same file from elsewhere.
        #expect(try await ballast(["alerts", "export", "--config", layout.config], in: "/").output.contains("runbook_url: \"runbooks/app-down.md\""))
    }

    @Test func aBalancerStartedElsewhereServesARenewedCertificateAfterSIGHUP() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: ballastExecutable.path), "build the ballast executable first (scripts/test does)")
        let backend = try await TestBackend.start("a"), other = try await TestBackend.start("b")
        let listen = try await freePort(), admin = try await freePort()
        let layout = try Layout(listen: listen, admin: admin, backends: [backend.address, other.address])
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        let token = "t0ken-\(UUID().uuidString)"
        let process = Process()
        process.executableURL = ballastExecutable
        process.arguments = ["lb", "--config", layout.config, "--threads", "1", "--drain-seconds", "5"]
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        process.environment = ProcessInfo.processInfo.environment.merging(["BALLAST_ADMIN_TOKEN": token]) { $1 }
        let log = layout.root + "/lb.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }

        // Probes need no token, and say ready once the listeners are bound; everything else needs it.
        try await waitUntilAsync { (try? await fetch(port: admin, .GET, "/readyz").status) == 200 }
        #expect(try await fetch(port: admin, .GET, "/healthz").status == 200)
        #expect(try await fetch(port: admin, .GET, "/api/v1/upstreams").status == 401)
        // DNS rebinding: a name that resolves here is not the admin listener's name.
        let rebound = try runTool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example:\(admin)",
                                           "-H", "Authorization: Bearer \(token)", "http://127.0.0.1:\(admin)/api/v1/config"], package: "curl")
        #expect(rebound.output == "421")
        // A cross-site "simple" request cannot change the config, even with the token a browser might hold.
        let csrf = try runTool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Origin: https://evil.example",
                                        "-H", "Content-Type: text/plain", "-H", "Authorization: Bearer \(token)", "--data-binary", "version: 1",
                                        "http://127.0.0.1:\(admin)/api/v1/config/rollback"], package: "curl")
        #expect(csrf.output == "403")
        let plain = try runTool("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Content-Type: text/plain",
                                         "-H", "Authorization: Bearer \(token)", "--data-binary", "version: 1", "http://127.0.0.1:\(admin)/api/v1/config"],
                                package: "curl")
        #expect(plain.output == "415")
        let metrics = try await fetch(port: admin, .GET, "/metrics", headers: [("Authorization", "Bearer \(token)")])
        #expect(metrics.text.contains("ballast_build_info{version=\"\(BuildInfo.version)\",revision=\""), "\(metrics.text.prefix(300))")

        #expect(try servedSerial(port: listen) == "serial=01")
        // A connection opened before the renewal, kept alive across it.
        let kept = Process()
        kept.executableURL = URL(fileURLWithPath: installedTool("openssl") ?? "/usr/bin/openssl")
        kept.arguments = ["s_client", "-quiet", "-connect", "127.0.0.1:\(listen)"]
        let keptIn = Pipe(), keptOut = Pipe()
        kept.standardInput = keptIn
        kept.standardOutput = keptOut
        kept.standardError = FileHandle.nullDevice
        try kept.run()
        keptIn.fileHandleForWriting.write(Data("GET /before HTTP/1.1\r\nHost: x\r\n\r\n".utf8))

        // A config posted to the admin API resolves its relative paths against the running config's directory.
        let posted = try String(contentsOfFile: layout.config, encoding: .utf8).replacingOccurrences(of: "interval: 200ms", with: "interval: 300ms")
        let apply = try await fetch(port: admin, .POST, "/api/v1/config", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/yaml")],
                                    body: ByteBuffer(string: posted))
        #expect(apply.status == 200, "\(apply.text)")
        // The runbook an alert names is served as the balancer resolved it, far from the working directory.
        let runbook = try await fetch(port: admin, .GET, "/api/v1/runbook?path=runbooks/app-down.md", headers: [("Authorization", "Bearer \(token)")])
        #expect(runbook.status == 200 && runbook.text.contains("# AppDown"), "\(runbook.text)")

        // A config that multiplies through its aliases is refused at once, and nothing changes
        // (in its own process: the admin API's counters are process-wide).
        var bomb = "version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for (previous, name) in zip(["a", "b", "c", "d", "e", "f", "g", "h"], ["b", "c", "d", "e", "f", "g", "h", "i"]) {
            bomb += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        let exploded = try await fetch(port: admin, .POST, "/api/v1/config", headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/yaml")],
                                       body: ByteBuffer(string: bomb))
        #expect(exploded.status == 422 && exploded.text.contains("BL051"), "\(exploded.text.prefix(300))")

        // Renewed in place, then SIGHUP: new connections get the new certificate.
        try layout.makeCertificate(serial: 2)
        kill(process.processIdentifier, SIGHUP)
        try await waitUntilAsync(timeout: .seconds(10)) { (try? servedSerial(port: listen)) == "serial=02" }
        let events = try await fetch(port: admin, .GET, "/api/v1/events?since=5m", headers: [("Authorization", "Bearer \(token)")])
        #expect(events.text.contains("tls.certificate_renewed") && events.text.contains("CN=127.0.0.1") && events.text.contains("valid until"),
                "\(events.text.prefix(2000))")
        // The connection from before still works.
        keptIn.fileHandleForWriting.write(Data("GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        try keptIn.fileHandleForWriting.close()
        let keptAnswer = String(decoding: keptOut.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        kept.waitUntilExit()
        #expect(RawSocket.statuses(Array(keptAnswer.utf8)) == [200, 200], "\(keptAnswer.prefix(500))")

        // A broken renewal is refused: the certificate served stays the last good one.
        try "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n".write(toFile: layout.cert, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        try await waitUntilAsync(timeout: .seconds(10)) {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("refused")
        }
        #expect(try servedSerial(port: listen) == "serial=02")
        let refusals = try await fetch(port: admin, .GET, "/api/v1/events?since=5m", headers: [("Authorization", "Bearer \(token)")])
        #expect(refusals.text.contains("config.invalid") && refusals.text.contains("BL036"), "\(refusals.text.suffix(1500))")

        // Draining: a request in flight keeps the drain going, and meanwhile the balancer says it is not ready.
        backend.slowForMilliseconds.store(1500, ordering: .relaxed)
        other.slowForMilliseconds.store(1500, ordering: .relaxed)
        let slow = Task.detached {
            try runTool("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://127.0.0.1:\(listen)/slow"], package: "curl").output
        }
        try await Task.sleep(for: .milliseconds(400))
        kill(process.processIdentifier, SIGTERM)
        try await waitUntilAsync(timeout: .seconds(3)) { (try? await fetch(port: admin, .GET, "/readyz").status) == 503 }
        #expect(try await slow.value == "200")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        await backend.stop()
        await other.stop()
    }

    @Test func versionIsPrinted() async throws {
        let result = try await ballast(["--version"], in: "/")
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "ballast \(BuildInfo.version) (\(BuildInfo.revision))")
    }
}
