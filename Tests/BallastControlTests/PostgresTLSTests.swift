import BallastStorage
import Foundation
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

    /// Whether the server sees this session encrypted, and with which protocol.
    func session(_ text: String) async throws -> (ssl: Bool, version: String) {
        let database = SharedDatabase(url: try PostgresURL(text), operationTimeout: .seconds(5))
        defer { database.close() }
        return try await database.run { client in
            let rows = try await client.query("SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            for try await (ssl, version) in rows.decode((Bool, String).self) { return (ssl, version) }
            return (false, "")
        }
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
        do {
            _ = try await session(url("sslmode=verify-full&sslrootcert=\(other)"))
            Issue.record("a server signed by another CA was accepted")
        } catch {
            #expect("\(error)".localizedCaseInsensitiveContains("certificate") || "\(error)".contains("unavailable") || "\(error)".contains("unreachable"), "\(error)")
        }
    }
}
