import BallastStorage
import Foundation
import Logging
import PostgresNIO
import Testing

/// PostgreSQL over TLS (issue 22) against the test server scripts/postgres starts with ssl=on:
/// what each `sslmode` does, seen from the server's own `pg_stat_ssl`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES_CA"] != nil, "needs the test PostgreSQL with its CA"))
struct PostgresTLSTests {
    /// The test server's URL with `parameters` instead of the ones scripts/test set.
    func url(_ parameters: String) -> String {
        let base = ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES"]!
        let plain = base.split(separator: "?").first.map(String.init) ?? base
        return parameters.isEmpty ? plain : plain + "?" + parameters
    }

    var ca: String { ProcessInfo.processInfo.environment["BALLAST_TEST_POSTGRES_CA"]! }

    /// Whether the server sees this session encrypted, and with which protocol: one connection
    /// of its own, as the reachability probe opens (the pool uses the same settings; every
    /// other PostgreSQL test runs on it with sslmode=verify-full).
    func session(_ text: String) async throws -> (ssl: Bool, version: String) {
        let connection = try await PostgresURL(text).connectOnce(timeout: .seconds(20), logger: Logger(label: "test"))
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query("SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: Logger(label: "test"))
        for try await (ssl, version) in rows.decode((Bool, String).self) { return (ssl, version) }
        return (false, "")
    }

    @Test func verifyFullEncryptsAndVerifiesTheServer() async throws {
        let seen = try await session(url("sslmode=verify-full&sslrootcert=\(ca)"))
        #expect(seen.ssl && seen.version.hasPrefix("TLSv1."), "\(seen)")
        let byName = try await session(url("sslmode=verify-full&sslrootcert=\(ca)").replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:"))
        #expect(byName.ssl)
    }

    @Test func requirePreferAndDisableDoWhatLibpqDoes() async throws {
        #expect(try await session(url("sslmode=require")).ssl)
        #expect(try await session(url("")).ssl, "prefer (the default) takes TLS when the server offers it")
        #expect(try await !session(url("sslmode=disable")).ssl)
    }

    @Test func aServerTheCADidNotSignIsRefusedAndSaysWhy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ballast-pg-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let other = directory.appendingPathComponent("other-ca.crt").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                             "-subj", "/CN=someone else", "-keyout", directory.appendingPathComponent("k").path, "-out", other]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let wrong = try PostgresURL(url("sslmode=verify-full&sslrootcert=\(other)"))
        do {
            _ = try await session(url("sslmode=verify-full&sslrootcert=\(other)"))
            Issue.record("a server signed by another CA was accepted")
        } catch {
            let words = wrong.describeTLSFailure(error)
            #expect(words?.contains("not signed by the CA in sslrootcert (\(other))") == true, "\(error) -> \(String(describing: words))")
        }
    }
}
