import BallastAPI
import BallastConfig
import BallastControl
import BallastProxy
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// Who may use the admin API: tokens with a read or a write role, and the name a change was
/// authenticated as in the history and the timeline.
@Suite struct AdminCredentialsTests {
    func config(_ extra: String = "", base: String? = nil) throws -> Config {
        var config = try ConfigLoader.load(text: """
            version: 1
            admin:
              listen: 127.0.0.1:9900
            \(extra)
            listeners:
              - name: public
                listen: 127.0.0.1:8080
                routes: [{ name: all, match: { path_prefix: / }, upstream: app }]
            upstreams:
              - name: app
                servers: [127.0.0.1:9101]
            """, file: "a.yaml").get().config
        if let base { config.baseDirectory = base }
        return config
    }

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "ballast-admin-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func digest(_ token: String) -> String { SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined() }

    @Test func beyondLoopbackSomeTokenIsRequired() throws {
        var open = try config()
        open.admin.listen = Address(host: "0.0.0.0", port: 9900)
        #expect(throws: AdminCredentials.Invalid.self) { try AdminCredentials.load(open, environment: [:]) }
        // A read token alone is a token: the listener is not open to changes.
        let readOnly = try AdminCredentials.load(open, environment: ["BALLAST_ADMIN_READ_TOKEN": "r-0123456789abcdef"])
        #expect(readOnly.principals == [.init(name: "reader", role: .read)])
        #expect(try AdminCredentials.load(try config(), environment: [:]).isEmpty)
    }

    @Test func upGeneratesAPrivateTokenOnceAndRefusesOneOthersCanRead() throws {
        let directory = try temporaryDirectory()
        let file = directory + "/admin.token"
        let first = try AdminCredentials.ensureTokenFile(file)
        #expect(first.count == 64 && first.allSatisfy(\.isHexDigit))
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try AdminCredentials.ensureTokenFile(file) == first, "a second start keeps the token")
        let credentials = try AdminCredentials.load(try config(), environment: [:], generatedFile: file)
        #expect(credentials.principal(presenting: first)?.role == .write)
        #expect(credentials.principal(presenting: first + "x") == nil)
        // The environment wins, and then no file is needed or written.
        let other = directory + "/unused.token"
        let fromEnvironment = try AdminCredentials.load(try config(), environment: ["BALLAST_ADMIN_TOKEN": "e-0123456789abcdef"], generatedFile: other)
        #expect(fromEnvironment.principal(presenting: "e-0123456789abcdef") != nil)
        #expect(!FileManager.default.fileExists(atPath: other))

        chmod(file, 0o644)
        #expect(throws: AdminCredentials.Invalid.self) { try AdminCredentials.ensureTokenFile(file) }
        try "short\n".write(toFile: directory + "/short.token", atomically: true, encoding: .utf8)
        chmod(directory + "/short.token", 0o600)
        #expect(throws: AdminCredentials.Invalid.self) { try AdminCredentials.ensureTokenFile(directory + "/short.token") }
        #expect(throws: AdminCredentials.Invalid.self) { try AdminCredentials.ensureTokenFile("/nonexistent-dir/admin.token") }
    }

    @Test func aTokensFileNamesPeopleAndIsReadRelativeToTheConfig() throws {
        let directory = try temporaryDirectory()
        try """
            # who may use the admin API
            alice write \(digest("alice-token-0123456789"))
            prometheus read \(digest("scrape-token-0123456789"))   # the scraper
            """.write(toFile: directory + "/admin-tokens", atomically: true, encoding: .utf8)
        let credentials = try AdminCredentials.load(try config("  tokens_file: admin-tokens", base: directory), environment: [:])
        #expect(credentials.principal(presenting: "alice-token-0123456789") == .init(name: "alice", role: .write))
        #expect(credentials.principal(presenting: "scrape-token-0123456789") == .init(name: "prometheus", role: .read))
        #expect(credentials.principal(presenting: digest("alice-token-0123456789")) == nil, "the digest is not the token")

        for bad in ["alice admin \(digest("x"))", "alice write 1234", "alice write", "al ice write \(digest("x"))", "al\u{7}ice write \(digest("x"))"] {
            try bad.write(toFile: directory + "/bad", atomically: true, encoding: .utf8)
            #expect(throws: AdminCredentials.Invalid.self, "\(bad)") {
                try AdminCredentials.load(try config("  tokens_file: bad", base: directory), environment: [:])
            }
        }
        #expect(throws: AdminCredentials.Invalid.self) {
            try AdminCredentials.load(try config("  tokens_file: missing", base: directory), environment: [:])
        }
    }
}

/// In the serialized admin suite: it applies configs, and that suite counts applies in the
/// process-wide metrics.
extension AdminAndLifecycleTests {
    @Test func theReadRoleReadsAndTheWriteRoleChangesAsItsName() async throws {
        let a = try await TestBackend.start("a"), b = try await TestBackend.start("b")
        let proxy = try await ProxyHarness.start { port in simpleConfig(port: port, servers: [a.address]) }
        let history = ConfigHistory()
        try await history.record(version: 1, author: "test", outcome: "applied", source: proxy.balancer.runtime.config.sourceText)
        let timeline = Timeline(store: MemoryTimelineStore())
        let api = AdminAPI(balancer: proxy.balancer, history: history, registry: TestMetrics.registry, timeline: timeline)
        var credentials = AdminCredentials()
        credentials.add(token: "write-0123456789abcdef", as: .init(name: "alice", role: .write))
        credentials.add(token: "read-0123456789abcdef", as: .init(name: "prometheus", role: .read))
        let app = AdminServer.application(api: api, admin: Admin(), credentials: credentials, logger: Logger(label: "test"))
        let reader: HTTPFields = [.authorization: "Bearer read-0123456789abcdef"]
        var writing: HTTPFields = [.authorization: "Bearer write-0123456789abcdef", .contentType: "application/yaml"]
        writing[HTTPField.Name("X-Ballast-Author")!] = "alice@laptop"
        // A client that claims to be someone does not become them.
        writing[HTTPField.Name("X-Ballast-Identity")!] = "root"
        let writer = writing
        let change = ByteBuffer(string: simpleConfig(port: proxy.port, servers: [b.address]))
        try await app.test(.router) { client async throws in
            #expect(try await client.execute(uri: "/api/v1/upstreams", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/api/v1/upstreams", method: .get, headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: reader).status == .ok)
            #expect(try await client.execute(uri: "/api/v1/status", method: .get, headers: reader).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status != .unauthorized, "probes need no token")

            var readerChange = reader
            readerChange[.contentType] = "application/yaml"
            let refused = try await client.execute(uri: "/api/v1/config", method: .post, headers: readerChange, body: change)
            #expect(refused.status == .forbidden)
            #expect(String(buffer: refused.body).contains("'prometheus' may only read"))
            #expect(try await client.execute(uri: "/api/v1/config/rollback", method: .post, headers: reader).status == .forbidden)
            #expect(proxy.balancer.version == 1)

            #expect(try await client.execute(uri: "/api/v1/config", method: .post, headers: writer, body: change).status == .ok)
            #expect(proxy.balancer.version == 2)
            #expect(try await client.execute(uri: "/api/v1/config/rollback", method: .post, headers: writer).status == .ok)
            var event = writer
            event[.contentType] = "application/json"
            let posted = try await client.execute(uri: "/api/v1/events", method: .post, headers: event,
                                                  body: ByteBuffer(string: #"{"kind":"note.deploy","message":"shipped","details":{"posted_by":"mallory"}}"#))
            #expect(posted.status == .created)
        }
        let authors = try await history.all().map(\.author)
        #expect(authors == ["test", "alice (as alice@laptop)", "rollback to v1 by alice (as alice@laptop)"])
        let events = try await timeline.store.events(since: nil, limit: 20)
        #expect(events.contains { $0.message.hasPrefix("config v2 applied by alice (as alice@laptop)") })
        #expect(events.first { $0.kind == "note.deploy" }?.details?["posted_by"] == "alice (as alice@laptop)")
        await proxy.stop()
        await a.stop()
        await b.stop()
    }
}
